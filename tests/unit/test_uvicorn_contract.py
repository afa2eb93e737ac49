"""The parts of uvicorn that realmgate's HTTP layer builds on (``server/http/protocol.py``,
``direct.py``, ``whole.py``, ``workers.py``) are not uvicorn's public interface. uvicorn is
pinned to one version in ``pyproject.toml``; these tests fail on any change of the modules those
parts live in, so that moving the pin means reading the changes, and the server refuses to start
on another version."""

from __future__ import annotations

import hashlib
import inspect

import pytest
import uvicorn
import uvicorn._subprocess
import uvicorn.config
import uvicorn.protocols.http.httptools_impl
import uvicorn.protocols.utils
import uvicorn.supervisors.multiprocess

from realmgate.server.http import protocol

# sha256 of each module's source, uvicorn 0.54.0.
PINNED = {
    "uvicorn.protocols.http.httptools_impl": (
        "1d4e1c579df4168433a61a01f10c628b31c1790e72dd9769d2b8633b22214033"
    ),
    "uvicorn.protocols.utils": ("d6129d0c29a8fc6b46acad7365f6bbd232fb1ebde60c4f119cbebd3b8ac74118"),
    "uvicorn.supervisors.multiprocess": (
        "53541976227fec0b9ace2c7a5ce8f592ed0d8ff37f3c93c2a18baae9236365c2"
    ),
    "uvicorn._subprocess": ("7d0e094da8ee5dacba99573c2903467d7bba247a1a6f8e9a4ba93220c58930f9"),
}

MODULES = {
    "uvicorn.protocols.http.httptools_impl": uvicorn.protocols.http.httptools_impl,
    "uvicorn.protocols.utils": uvicorn.protocols.utils,
    "uvicorn.supervisors.multiprocess": uvicorn.supervisors.multiprocess,
    "uvicorn._subprocess": uvicorn._subprocess,
}


def test_uvicorn_is_the_pinned_version() -> None:
    assert uvicorn.__version__ == protocol.UVICORN_VERSION


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_uvicorn_internals_used_are_unchanged(name: str) -> None:
    source = inspect.getsource(MODULES[name]).encode()
    assert hashlib.sha256(source).hexdigest() == PINNED[name], (
        f"{name} changed: read the change against server/http/protocol.py, direct.py, whole.py "
        "and workers.py before moving the uvicorn pin"
    )


def test_config_fields_used_exist() -> None:
    config = uvicorn.config.Config("x:app", timeout_keep_alive=7, ws="none")
    assert config.timeout_keep_alive == 7
    assert uvicorn.config.STARTUP_FAILURE == 3


def test_serving_on_another_uvicorn_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    protocol.check_uvicorn()
    monkeypatch.setattr(uvicorn, "__version__", "0.55.0")
    with pytest.raises(RuntimeError, match=r"built for uvicorn 0\.54\.0, found 0\.55\.0"):
        protocol.check_uvicorn()
