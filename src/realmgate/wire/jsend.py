"""JSend envelopes, as the Streamdiver API documents them."""

from __future__ import annotations

from typing import Any


def success(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def fail(data: dict[str, Any], message: str) -> dict[str, Any]:
    return {"status": "fail", "data": data, "message": message}


def error(message: str) -> dict[str, Any]:
    return {"status": "error", "message": message}
