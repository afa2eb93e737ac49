"""Client SDK for realmgate: client-credentials tokens and the tenant API.

Needs only :mod:`httpx` (``requests`` support lives in :mod:`realmgate.client.requests_auth`
and needs the ``requests`` extra)::

    from realmgate.client import TenantApiClient, TokenProvider, BearerTokenAuth

    provider = TokenProvider(
        sso_base_url="https://sso.example.com",
        tenant="acme",
        client_id="reporting",
        client_secret=os.environ["SECRET"],
    )
    # or: TokenProvider.from_env()  (REALMGATE_SSO_URL, REALMGATE_TENANT,
    #     REALMGATE_CLIENT_ID, REALMGATE_CLIENT_SECRET, optional REALMGATE_SCOPE)
    with httpx.Client(auth=BearerTokenAuth(provider)) as http:
        http.get("https://api.example.com/v2/...")

    api = TenantApiClient("https://api.example.com", provider)  # or TenantApiClient.from_env()
    settings = api.get_settings()
    api.update_settings(duplicate_check=True)

Sender-constrained tokens: ``TokenProvider(..., dpop_key=DpopKey.generate())`` gets DPoP-bound
tokens (RFC 9449; ``BearerTokenAuth``, ``RequestsBearerAuth`` and the tenant API clients then
send ``Authorization: DPoP`` with a proof per request); ``auth_method="tls_client_auth"`` with
an ``http_client`` holding the client certificate authenticates with mutual TLS (RFC 8705).

Tokens are renewed ahead of expiry in two windows (see :class:`RenewalPolicy`), with one
token request per renewal however many threads or tasks ask (see :class:`TokenProvider`).
Token requests are retried on 429/5xx/network errors (see :class:`RetryPolicy`).
Client secrets and access tokens never appear in ``repr()``, ``str()``, exception messages
or log records (logger ``realmgate.client``); they travel only in request bodies and
``Authorization`` headers, never in URLs.

Exception tree::

    RealmgateClientError
     ├── ConfigurationError               (also a ValueError) bad or missing configuration
     ├── TokenError                       no access token could be obtained
     │    ├── TokenRequestError           400/401/403/404...: .error, .error_description,
     │    │                               .status_code; never retried
     │    ├── TokenEndpointUnavailableError  429/5xx/network errors after all retries
     │    └── TokenResponseError          malformed token or discovery response
     └── ApiError                         tenant API failure: .status_code, .message
          ├── ApiAuthError                401/403: .error (from WWW-Authenticate)
          ├── ApiFailError                JSend "fail" (4xx): .data (field -> message)
          ├── ApiServerError              JSend "error" / 5xx: .code
          ├── ApiResponseError            not the documented JSend document
          └── ApiConnectionError          network error or timeout
"""

from ._async import AsyncTokenProvider
from ._config import (
    ENV_API_URL,
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_SCOPE,
    ENV_SSO_URL,
    ENV_TENANT,
    AuthMethod,
    ClientConfig,
)
from ._dpop import DpopKey
from ._errors import (
    ApiAuthError,
    ApiConnectionError,
    ApiError,
    ApiFailError,
    ApiResponseError,
    ApiServerError,
    ConfigurationError,
    RealmgateClientError,
    TokenEndpointUnavailableError,
    TokenError,
    TokenRequestError,
    TokenResponseError,
)
from ._httpx_auth import BearerTokenAuth
from ._retry import RetryPolicy
from ._secret import Secret
from ._settings import SettingsChanges, TenantSettings
from ._sync import TokenProvider
from ._tenant_api import AsyncTenantApiClient, TenantApiClient
from ._token import AccessToken, Freshness, RenewalPolicy

__all__ = [
    "ENV_API_URL",
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_SCOPE",
    "ENV_SSO_URL",
    "ENV_TENANT",
    "AccessToken",
    "ApiAuthError",
    "ApiConnectionError",
    "ApiError",
    "ApiFailError",
    "ApiResponseError",
    "ApiServerError",
    "AsyncTenantApiClient",
    "AsyncTokenProvider",
    "AuthMethod",
    "BearerTokenAuth",
    "ClientConfig",
    "ConfigurationError",
    "DpopKey",
    "Freshness",
    "RealmgateClientError",
    "RenewalPolicy",
    "RetryPolicy",
    "Secret",
    "SettingsChanges",
    "TenantApiClient",
    "TenantSettings",
    "TokenEndpointUnavailableError",
    "TokenError",
    "TokenProvider",
    "TokenRequestError",
    "TokenResponseError",
]
