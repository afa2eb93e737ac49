"""Static assets with content-hashed names, served from memory with a year-long cache.

A changed file gets a new name (``console.<sha256[:12]>.css``), so browsers may keep every
name forever (``immutable``) and still never run an old script with a new page.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
LONG_CACHE = "public, max-age=31536000, immutable"


class Assets:
    """The files of ``directory``, read once: logical name -> hashed URL, and the server."""

    def __init__(self, directory: Path, base_url: str):
        self.base_url = base_url
        self._urls: dict[str, str] = {}
        self._files: dict[str, tuple[bytes, str]] = {}  # hashed name -> (body, content type)
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if not path.is_file() or path.suffix not in TYPES:
                    continue
                body = path.read_bytes()
                digest = hashlib.sha256(body).hexdigest()[:12]
                hashed = f"{path.stem}.{digest}{path.suffix}"
                self._urls[path.name] = f"{base_url}/{hashed}"
                self._files[hashed] = (body, TYPES[path.suffix])

    def url(self, name: str) -> str:
        """The hashed URL of ``console.css`` and the like (templates call ``asset(...)``)."""
        return self._urls[name]

    def response(self, hashed: str) -> Response | None:
        found = self._files.get(hashed)
        if found is None:
            return None
        body, media_type = found
        from realmgate.server.console.web import SECURITY_HEADERS

        return Response(
            body,
            media_type=media_type,
            headers={**SECURITY_HEADERS, "Cache-Control": LONG_CACHE},
        )


async def serve_asset(request: Request) -> Response:
    from realmgate.server.console.web import env_of, error_page

    name = str(request.path_params.get("name", ""))
    found = env_of(request).assets.response(name)
    if found is None:
        return error_page(request, 404, "Not found", "No such file.")
    return found
