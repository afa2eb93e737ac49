"""realmgate keeps the algorithm name "EdDSA" (what deployed verifiers understand), which
joserfc flags as deprecated (RFC 9864): the warning is silenced around realmgate's own calls
only, never for the program that imports realmgate."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import warnings

from joserfc import jwt
from joserfc.errors import SecurityWarning

from realmgate.jose import decode_verified, generate_key, sign

FILTERS_AFTER_IMPORT = """
import json, warnings
before = [repr(f) for f in warnings.filters]
import realmgate, realmgate.client, realmgate.verifier, realmgate.jose
import realmgate.jose.keys, realmgate.jose.tokens, realmgate.server.core.assertions
print(json.dumps({"before": before, "after": [repr(f) for f in warnings.filters]}))
"""


def test_importing_realmgate_leaves_the_warning_filters_alone() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FILTERS_AFTER_IMPORT],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    filters = json.loads(result.stdout)
    assert filters["after"] == filters["before"]


def _eddsa_token() -> tuple[str, object]:
    key = generate_key("EdDSA")
    now = int(time.time())
    return sign(key, {"sub": "x", "iat": now, "exp": now + 60}), key.key


def test_verifying_eddsa_warns_nobody_and_changes_no_filter() -> None:
    token, key = _eddsa_token()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        _, claims = decode_verified(token, key, ["EdDSA"])  # type: ignore[arg-type]
        assert claims["sub"] == "x"
        assert warnings.filters == before
        # The importer's own use of joserfc with "EdDSA" still warns, as joserfc means it to.
        jwt.decode(token, key, algorithms=["EdDSA"])  # type: ignore[arg-type]
    assert [str(w.message) for w in seen if issubclass(w.category, SecurityWarning)] == [
        "EdDSA is deprecated via RFC 9864"
    ]


def test_concurrent_verifications_leave_no_filter_behind() -> None:
    """``warnings.catch_warnings`` swaps a process-wide list: two threads inside it at once
    could restore each other's "ignore" entry for good. realmgate's calls take turns."""
    token, key = _eddsa_token()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SecurityWarning)  # a leak or a missed call would raise
        before = list(warnings.filters)
        errors: list[BaseException] = []

        def verify_many() -> None:
            try:
                for _ in range(200):
                    decode_verified(token, key, ["EdDSA"])  # type: ignore[arg-type]
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=verify_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert warnings.filters == before
