"""RequestsBearerAuth: header, one 401 retry via the adapter, no token to stripped requests."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from realmgate.client import TokenProvider
from realmgate.client.requests_auth import RequestsBearerAuth

from .fakes import TOKEN_PREFIX, TokenEndpoint

URL = "https://api.test/things"


class FakeAdapter(BaseAdapter):
    """A transport adapter answering from ``answer(request) -> (status, headers)``."""

    def __init__(self, answer: Callable[[requests.PreparedRequest], tuple[int, Mapping[str, str]]]):
        super().__init__()
        self.answer = answer
        self.seen: list[tuple[str, str | None, bytes]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body
        if hasattr(body, "read"):
            body = body.read()  # type: ignore[union-attr]
        if isinstance(body, str):
            body = body.encode()
        self.seen.append((str(request.url), request.headers.get("Authorization"), body or b""))
        status, headers = self.answer(request)
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response.raw = io.BytesIO(b"{}")
        response.url = str(request.url)
        response.request = request
        response.connection = self  # type: ignore[assignment]
        return response

    def close(self) -> None:
        pass


def rejecting(times: int) -> Callable[[requests.PreparedRequest], tuple[int, Mapping[str, str]]]:
    count = {"n": 0}

    def answer(request: requests.PreparedRequest) -> tuple[int, Mapping[str, str]]:
        count["n"] += 1
        return (401 if count["n"] <= times else 200), {}

    return answer


@pytest.mark.parametrize(("rejections", "status", "calls"), [(0, 200, 1), (1, 200, 2), (2, 401, 2)])
def test_retry_once_on_401(
    make_provider: Callable[..., TokenProvider],
    endpoint: TokenEndpoint,
    rejections: int,
    status: int,
    calls: int,
) -> None:
    adapter = FakeAdapter(rejecting(rejections))
    with requests.Session() as session:
        session.mount("https://api.test", adapter)
        session.auth = RequestsBearerAuth(make_provider())
        response = session.post(URL, data=b"payload")
    assert response.status_code == status
    expected = [f"Bearer {TOKEN_PREFIX}{n}" for n in range(1, calls + 1)]
    assert [auth for _, auth, _ in adapter.seen] == expected
    assert all(body == b"payload" for _, _, body in adapter.seen)
    assert endpoint.count == calls
    if calls == 2:
        assert [r.status_code for r in response.history] == [401]


def test_file_body_is_rewound(make_provider: Callable[..., TokenProvider]) -> None:
    adapter = FakeAdapter(rejecting(1))
    with requests.Session() as session:
        session.mount("https://api.test", adapter)
        response = session.put(
            URL, data=io.BytesIO(b"file-content"), auth=RequestsBearerAuth(make_provider())
        )
    assert response.status_code == 200
    assert [body for _, _, body in adapter.seen] == [b"file-content"] * 2


def test_no_token_added_after_cross_host_redirect(
    make_provider: Callable[..., TokenProvider], endpoint: TokenEndpoint
) -> None:
    def answer(request: requests.PreparedRequest) -> tuple[int, Mapping[str, str]]:
        if str(request.url).startswith("https://api.test"):
            return 302, {"Location": "https://evil.test/steal"}
        return 401, {}

    adapter = FakeAdapter(answer)
    with requests.Session() as session:
        session.mount("https://", adapter)
        response = session.get(URL, auth=RequestsBearerAuth(make_provider()))
    assert response.status_code == 401
    assert adapter.seen[1][0] == "https://evil.test/steal"
    assert all(auth is None for url, auth, _ in adapter.seen if "evil" in url)
    assert endpoint.count == 1


def test_repr_hides_secrets(make_provider: Callable[..., TokenProvider]) -> None:
    auth = RequestsBearerAuth(make_provider())
    assert "svc-reporting" in repr(auth)
    assert "Sentinel" not in repr(auth)
