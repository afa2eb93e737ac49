"""Client configuration: explicit values or the ``REALMGATE_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote, urlsplit

from ._errors import ConfigurationError
from ._secret import Secret

AuthMethod = Literal[
    "client_secret_post", "client_secret_basic", "tls_client_auth", "self_signed_tls_client_auth"
]
AUTH_METHODS: Final = (
    "client_secret_post",
    "client_secret_basic",
    "tls_client_auth",
    "self_signed_tls_client_auth",
)
TLS_AUTH_METHODS: Final = ("tls_client_auth", "self_signed_tls_client_auth")

NO_SECRET: Final = Secret("")
"""The empty secret of the mutual TLS methods."""

ENV_SSO_URL: Final = "REALMGATE_SSO_URL"
ENV_TENANT: Final = "REALMGATE_TENANT"
ENV_CLIENT_ID: Final = "REALMGATE_CLIENT_ID"
ENV_CLIENT_SECRET: Final = "REALMGATE_CLIENT_SECRET"
ENV_API_URL: Final = "REALMGATE_API_URL"
ENV_SCOPE: Final = "REALMGATE_SCOPE"
_REQUIRED_ENV: Final = (ENV_SSO_URL, ENV_TENANT, ENV_CLIENT_ID, ENV_CLIENT_SECRET)


def normalize_base_url(value: str, what: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{what} must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{what} must not have a query or fragment")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{what} must not contain credentials")
    return value.rstrip("/")


def _scope(value: str | Iterable[str] | None) -> str | None:
    if value is None:
        return None
    items = value.split() if isinstance(value, str) else [s.strip() for s in value]
    joined = " ".join(s for s in items if s)
    return joined or None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Everything needed to obtain tokens for one client of one tenant.

    Args:
        sso_base_url: the server's base URL, e.g. ``https://sso.example.com``; the realm
            lives at ``{sso_base_url}/realms/{tenant}``.
        tenant: the tenant shortcode (realm name).
        client_id: the OAuth client id.
        client_secret: the client secret (wrapped in :class:`Secret`); none for the mutual
            TLS methods.
        scope: optional space-separated scopes (or an iterable of scopes) to request.
        auth_method: ``"client_secret_post"`` (default: credentials in the form body) or
            ``"client_secret_basic"`` (HTTP Basic). Either way the secret never is in a URL.
            ``"tls_client_auth"`` or ``"self_signed_tls_client_auth"`` (RFC 8705): the client
            authenticates with the TLS client certificate of the HTTP client you give the
            provider; the form carries only ``client_id``.
        token_endpoint: explicit token endpoint URL; overrides the derived one and discovery.
        discovery: look the token endpoint up in the realm's
            ``/.well-known/openid-configuration`` on first use instead of deriving it.
        api_base_url: base URL of the tenant API (only used by the tenant API clients).
    """

    sso_base_url: str
    tenant: str
    client_id: str
    client_secret: Secret = NO_SECRET
    scope: str | None = None
    auth_method: AuthMethod = "client_secret_post"
    token_endpoint: str | None = None
    discovery: bool = False
    api_base_url: str | None = None

    def __post_init__(self) -> None:
        setter = object.__setattr__
        setter(self, "sso_base_url", normalize_base_url(self.sso_base_url, "sso_base_url"))
        if self.api_base_url is not None:
            setter(self, "api_base_url", normalize_base_url(self.api_base_url, "api_base_url"))
        if self.token_endpoint is not None:
            setter(
                self, "token_endpoint", normalize_base_url(self.token_endpoint, "token_endpoint")
            )
        if not isinstance(self.client_secret, Secret):
            setter(self, "client_secret", Secret(self.client_secret))
        setter(self, "scope", _scope(self.scope))
        tenant = self.tenant.strip() if isinstance(self.tenant, str) else ""
        if not tenant or "/" in tenant or tenant in (".", ".."):
            raise ConfigurationError("tenant must be a non-empty realm name without '/'")
        setter(self, "tenant", tenant)
        if not isinstance(self.client_id, str) or not self.client_id.strip():
            raise ConfigurationError("client_id must be a non-empty string")
        if self.auth_method not in AUTH_METHODS:
            raise ConfigurationError("auth_method must be one of " + ", ".join(AUTH_METHODS))
        if self.auth_method in TLS_AUTH_METHODS:
            if self.client_secret:
                raise ConfigurationError(f"{self.auth_method} takes no client_secret")
        elif not self.client_secret:
            raise ConfigurationError("client_secret must not be empty")

    @property
    def realm_url(self) -> str:
        """``{sso_base_url}/realms/{tenant}`` (the issuer)."""
        return f"{self.sso_base_url}/realms/{quote(self.tenant, safe='')}"

    @property
    def default_token_endpoint(self) -> str:
        """The token endpoint derived from the realm URL."""
        return f"{self.realm_url}/protocol/openid-connect/token"

    @property
    def discovery_url(self) -> str:
        """The realm's OpenID Connect discovery document."""
        return f"{self.realm_url}/.well-known/openid-configuration"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        auth_method: AuthMethod = "client_secret_post",
        discovery: bool = False,
    ) -> ClientConfig:
        """Read the configuration from environment variables.

        Required: ``REALMGATE_SSO_URL``, ``REALMGATE_TENANT``, ``REALMGATE_CLIENT_ID``,
        ``REALMGATE_CLIENT_SECRET`` (not read for the mutual TLS methods). Optional:
        ``REALMGATE_API_URL`` (tenant API base URL),
        ``REALMGATE_SCOPE`` (space-separated scopes). Empty values count as unset.

        Raises:
            ConfigurationError: naming the missing variables (never their values).
        """
        env = os.environ if environ is None else environ
        values = {name: env.get(name, "").strip() for name in (*_REQUIRED_ENV, ENV_API_URL)}
        tls = auth_method in TLS_AUTH_METHODS
        missing = [
            name
            for name in _REQUIRED_ENV
            if not values[name] and not (tls and name == ENV_CLIENT_SECRET)
        ]
        if missing:
            raise ConfigurationError(
                "missing required environment variable(s): " + ", ".join(missing)
            )
        return cls(
            sso_base_url=values[ENV_SSO_URL],
            tenant=values[ENV_TENANT],
            client_id=values[ENV_CLIENT_ID],
            # The secret is taken verbatim (not stripped): it is opaque.
            client_secret=Secret("" if tls else env[ENV_CLIENT_SECRET]),
            scope=env.get(ENV_SCOPE) or None,
            auth_method=auth_method,
            discovery=discovery,
            api_base_url=values[ENV_API_URL] or None,
        )
