"""The admin commands against a server: its ``/admin/realmgate`` API over HTTPS.

Credentials are an admin client's (a service-account client of realm ``master`` with realm
role ``admin``, or of a tenant with ``realm-management`` roles), never a command-line flag,
which ``ps`` would show to every user:

- the environment: ``REALMGATE_ADMIN_CLIENT_ID``, ``REALMGATE_ADMIN_CLIENT_SECRET`` and
  ``REALMGATE_ADMIN_REALM`` (default ``master``); or
- a profile file, ``$XDG_CONFIG_HOME/realmgate/admin.toml`` (``~/.config/...``) or
  ``REALMGATE_ADMIN_PROFILE_FILE``, refused unless only its owner may read it (0600)::

      [default]                      # or any name, chosen with --admin-profile NAME
      server = "https://sso.example.com"
      client_id = "realmgate-admin"
      client_secret = "..."
      realm = "master"               # optional
      ca_file = "/etc/ssl/our-ca.pem"  # optional

The token comes from the server's token endpoint through the SDK's
:class:`~realmgate.client.TokenProvider` and is renewed (and retried once on a 401) by
:class:`~realmgate.client.BearerTokenAuth`. Plain ``http://`` is accepted for loopback
addresses only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from realmgate.cli.remote_config import RemoteError, resolve, verify
from realmgate.client import BearerTokenAuth, TokenError, TokenProvider, TokenRequestError

Json = dict[str, Any]
PREFIX = "/admin/realmgate"
TIMEOUT = 30.0


def _segment(value: str) -> str:
    return quote(value, safe="")


def _failure(r: httpx.Response) -> RemoteError:
    try:
        body = r.json()
    except ValueError:
        body = None
    message = None
    if isinstance(body, dict):
        message = body.get("errorMessage") or body.get("error")
    if r.status_code == 401:
        return RemoteError("the server refused the admin token (HTTP 401 Unauthorized)")
    if r.status_code == 403:
        return RemoteError("the admin client may not do this here (HTTP 403 Forbidden)")
    if r.status_code == 404 and message == "HTTP 404 Not Found":
        return RemoteError("the server has no such admin endpoint (is it realmgate, and new?)")
    if r.status_code == 429:
        return RemoteError(f"rate limited: retry in {r.headers.get('Retry-After', 'a few')} s")
    if isinstance(message, str) and message:
        return RemoteError(message)
    return RemoteError(f"unexpected answer from the server: HTTP {r.status_code}")


class RemoteBackend:
    """:class:`~realmgate.cli.backend.Backend` over the ``/admin/realmgate`` API."""

    def __init__(self, http: httpx.Client):
        self.http = http

    @classmethod
    @contextmanager
    def open(
        cls, server: str | None, ca_file: Path | None, profile: str | None
    ) -> Iterator[RemoteBackend]:
        conn = resolve(server, ca_file, profile)
        checks = verify(conn.ca_file)
        with httpx.Client(verify=checks, timeout=TIMEOUT) as token_http:
            provider = TokenProvider(
                sso_base_url=conn.server,
                tenant=conn.realm,
                client_id=conn.client_id,
                client_secret=conn.client_secret,
                http_client=token_http,
            )
            with httpx.Client(
                base_url=conn.server + PREFIX,
                auth=BearerTokenAuth(provider),
                verify=checks,
                timeout=TIMEOUT,
                follow_redirects=False,
            ) as http:
                try:
                    yield cls(http)
                except TokenRequestError as exc:
                    detail = exc.error_description or exc.error
                    raise RemoteError(
                        f"the server refused the admin credentials: {detail}"
                    ) from None
                except TokenError as exc:
                    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                        raise RemoteError(_unverified(conn.server)) from None
                    raise RemoteError(f"no admin token: {exc}") from None
                except httpx.TransportError as exc:
                    raise RemoteError(_transport(conn.server, exc)) from None

    def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        r = self.http.request(method, path, json=json, params=query)
        if r.status_code >= 400:
            raise _failure(r)
        if r.status_code == 204 or not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            raise RemoteError(f"the server answered HTTP {r.status_code} without JSON") from None

    def _object(self, method: str, path: str, **kwargs: Any) -> Json:
        data = self._call(method, path, **kwargs)
        if not isinstance(data, dict):
            raise RemoteError("the server's answer is not the JSON object expected")
        return data

    def _list(self, method: str, path: str, **kwargs: Any) -> list[Json]:
        data = self._call(method, path, **kwargs)
        if not isinstance(data, list):
            raise RemoteError("the server's answer is not the JSON array expected")
        return data

    # tenants ---------------------------------------------------------------------------
    def create_tenant(
        self, shortcode: str, *, name: str | None, algorithm: str | None, client_id: str | None
    ) -> Json:
        body = {"shortcode": shortcode, "name": name, "signingAlg": algorithm}
        body["clientId"] = client_id
        return self._object("POST", "/tenants", json=_given(body))

    def list_tenants(self) -> list[Json]:
        return self._list("GET", "/tenants")

    def show_tenant(self, tenant: str) -> Json:
        return self._object("GET", f"/tenants/{_segment(tenant)}")

    def configure_tenant(
        self,
        tenant: str,
        *,
        lifespan: int | None,
        max_lifespan: int | None,
        scopes: dict[str, str],
        remove_scopes: tuple[str, ...],
        dpop_required: bool | None = None,
    ) -> Json:
        client_scopes: dict[str, str | None] = {**scopes, **dict.fromkeys(remove_scopes)}
        body = {"accessTokenLifespan": lifespan, "sessionMaxLifespan": max_lifespan}
        body["dpopRequired"] = dpop_required
        patch: Json = _given(body) | ({"clientScopes": client_scopes} if client_scopes else {})
        return self._object("PATCH", f"/tenants/{_segment(tenant)}", json=patch)

    def revoke_tenant_tokens(self, tenant: str) -> Json:
        return self._object("POST", f"/tenants/{_segment(tenant)}/revoke-tokens")

    def delete_tenant(self, tenant: str) -> None:
        self._call("DELETE", f"/tenants/{_segment(tenant)}")

    def tenant_settings(self, tenant: str, patch: Json | None) -> Json:
        path = f"/tenants/{_segment(tenant)}/settings"
        if patch is None:
            return self._object("GET", path)
        return self._object("PATCH", path, json=patch)

    def throttle_state(self, tenant: str) -> Json:
        return self._object("GET", f"/tenants/{_segment(tenant)}/throttle")

    def unblock(self, tenant: str, *, client_id: str | None, source: str | None) -> Json:
        params = {"clientId": client_id, "source": source}
        return self._object("DELETE", f"/tenants/{_segment(tenant)}/throttle", params=params)

    # keys ------------------------------------------------------------------------------
    def list_keys(self, tenant: str) -> list[Json]:
        return self._list("GET", f"/tenants/{_segment(tenant)}/keys")

    def rotate_key(self, tenant: str, *, algorithm: str | None, emergency: bool) -> Json:
        body = _given({"algorithm": algorithm}) | ({"emergency": True} if emergency else {})
        return self._object("POST", f"/tenants/{_segment(tenant)}/keys/rotate", json=body)

    def key_policy(self, tenant: str) -> Json:
        return self._object("GET", f"/tenants/{_segment(tenant)}/key-policy")

    def set_key_policy(self, tenant: str, period: int | None) -> Json:
        body = {"rotationPeriod": period}
        return self._object("PUT", f"/tenants/{_segment(tenant)}/key-policy", json=body)

    # clients ---------------------------------------------------------------------------
    def _client(self, tenant: str, client_id: str) -> str:
        return f"/tenants/{_segment(tenant)}/clients/{_segment(client_id)}"

    def create_client(
        self,
        tenant: str,
        client_id: str,
        *,
        roles: tuple[str, ...],
        auth_method: str,
        jwks: Json | None,
        jwks_uri: str | None,
        binding: str | None = None,
        tls_subject_dn: str | None = None,
        tls_san: str | None = None,
    ) -> Json:
        body = {"clientId": client_id, "roles": list(roles), "authMethod": auth_method}
        body |= _given({"jwks": jwks, "jwksUri": jwks_uri, "binding": binding})
        body |= _given({"tlsSubjectDn": tls_subject_dn, "tlsSan": tls_san})
        return self._object("POST", f"/tenants/{_segment(tenant)}/clients", json=body)

    def list_clients(self, tenant: str) -> list[Json]:
        return self._list("GET", f"/tenants/{_segment(tenant)}/clients")

    def show_client(self, tenant: str, client_id: str) -> Json:
        return self._object("GET", self._client(tenant, client_id))

    def configure_client(self, tenant: str, client_id: str, **options: Any) -> Json:
        lifespan = options.get("access_token_lifespan")
        body = _given({name: options.get(key) for key, name in _CLIENT_FIELDS.items()})
        if options.get("reset_lifespan"):
            body["accessTokenLifespan"] = 0
        elif lifespan is not None:
            body["accessTokenLifespan"] = lifespan
        body = {k: list(v) if isinstance(v, tuple) else v for k, v in body.items()}
        return self._object("PATCH", self._client(tenant, client_id), json=body)

    def set_client_enabled(self, tenant: str, client_id: str, enabled: bool) -> Json:
        body = {"enabled": enabled}
        return self._object("PATCH", self._client(tenant, client_id), json=body)

    def delete_client(self, tenant: str, client_id: str) -> None:
        self._call("DELETE", self._client(tenant, client_id))

    def rotate_secret(self, tenant: str, client_id: str, grace: int) -> Json:
        path = self._client(tenant, client_id) + "/rotate-secret"
        return self._object("POST", path, json={"grace": grace})

    def end_previous_secret(self, tenant: str, client_id: str) -> Json:
        path = self._client(tenant, client_id) + "/end-previous-secret"
        return self._object("POST", path)

    def revoke_client_tokens(self, tenant: str, client_id: str) -> Json:
        return self._object("POST", self._client(tenant, client_id) + "/revoke-tokens")

    # audit -----------------------------------------------------------------------------
    def list_audit(
        self,
        *,
        tenant: str | None,
        limit: int,
        first: int,
        actor: str | None,
        action: str | None,
        since: int | None,
        until: int | None,
    ) -> list[Json]:
        params = {"tenant": tenant, "max": limit, "first": first, "actor": actor}
        params |= {"action": action, "since": since, "until": until}
        return self._list("GET", "/audit", params=params)


_CLIENT_FIELDS = {
    "roles": "roles",
    "default_scopes": "defaultScopes",
    "optional_scopes": "optionalScopes",
    "audiences": "audiences",
    "claims": "claims",
    "token_profile": "tokenProfile",
    "jwks": "jwks",
    "jwks_uri": "jwksUri",
    "auth_method": "authMethod",
    "binding": "binding",
    "tls_subject_dn": "tlsSubjectDn",
    "tls_san": "tlsSan",
}


def _given(values: dict[str, Any]) -> Json:
    return {k: v for k, v in values.items() if v is not None}


def _unverified(server: str) -> str:
    return f"cannot verify the certificate of {server}: give its CA with --ca-file"


def _transport(server: str, exc: httpx.TransportError) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return _unverified(server)
    return f"cannot reach {server}: {type(exc).__name__}"


__all__ = ["RemoteBackend", "RemoteError"]
