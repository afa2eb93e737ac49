"""Every server option, its default and its environment variable, documented once.

Options come from command-line flags (``realmgate serve --port ...``), environment variables
(``REALMGATE_<NAME>``) or a ``.env``-style file named by ``REALMGATE_CONFIG_FILE``.
``docs/configuration.md`` lists them; keep the two in step. Loading, the hand-over to forked
workers and the values derived from the options are in ``settings_base.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from realmgate.jose import SUPPORTED_ALGORITHMS
from realmgate.server.settings_base import SettingsBase


class Settings(SettingsBase):
    model_config = SettingsConfigDict(
        env_prefix="REALMGATE_",
        extra="ignore",
        frozen=True,
    )

    data_dir: Path = Field(
        Path("realmgate-data"),
        description="Directory for the SQLite database and the master key file; created on start.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL. Unset: SQLite in the data directory. "
        "PostgreSQL: postgresql://user:password@host:5432/dbname (psycopg 3).",
    )
    master_key: SecretStr | None = Field(
        None,
        description="Master key (32 bytes, base64url) that encrypts signing keys and secrets at "
        "rest. Unset: read from master_key_file.",
    )
    master_key_file: Path | None = Field(
        None,
        description="Key file (mode 0600). Unset: <data_dir>/master.key, created on the first "
        "start of an empty database.",
    )
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8080, ge=0, le=65535, description="Port to bind.")
    tls_cert: Path | None = Field(
        None, description="PEM certificate (chain) file: serve HTTPS, TLS 1.2 or newer."
    )
    tls_key: Path | None = Field(None, description="PEM private key file of the certificate.")
    client_cert_header: str | None = Field(
        None,
        description="Request header in which a TLS-terminating proxy passes the client "
        "certificate: nginx's $ssl_client_escaped_cert (e.g. X-SSL-Client-Cert) or Envoy's "
        "x-forwarded-client-cert (its Cert= field). Believed only from client_cert_proxies.",
    )
    client_cert_proxies: str | None = Field(
        None,
        description="Comma-separated addresses or networks (CIDR) of the proxies whose "
        "client_cert_header is believed; from any other peer the header is ignored.",
    )
    tls_client_ca: Path | None = Field(
        None,
        description="PEM file of the CAs that issue client certificates (mutual TLS, RFC 8705): "
        "the TLS listener asks for a certificate (optional; clients without one authenticate "
        "as before) and accepts those that chain to them; and for tls_client_auth a "
        "certificate, from the listener or from client_cert_header, must be issued directly "
        "by one of them (put intermediate CAs in the file). Needs tls_cert or "
        "client_cert_header.",
    )
    mtls_base_url: str | None = Field(
        None,
        description="Public base URL at which clients reach the endpoints with mutual TLS, when "
        "it differs from issuer_base_url: discovery then lists mtls_endpoint_aliases "
        "(RFC 8705 §5).",
    )
    dpop_proof_max_age: int = Field(
        60,
        ge=5,
        le=600,
        description="DPoP proofs (RFC 9449) are accepted for this many seconds after their "
        "iat (and up to 5 s before it); their jti is remembered as long, on every node.",
    )
    dpop_nonce: bool = Field(
        False,
        description="Require a server-provided nonce in DPoP proofs (RFC 9449 §8, §9) at the "
        "token endpoint and the tenant API: a proof without a current one gets "
        "use_dpop_nonce and a DPoP-Nonce header.",
    )
    dpop_nonce_lifetime: int = Field(
        300,
        ge=10,
        le=86400,
        description="Seconds after which a new DPoP nonce is handed out; a nonce is accepted "
        "until twice this (every node derives the same nonces, no shared state).",
    )
    forwarded_allow_ips: str | None = Field(
        None,
        description="Comma-separated addresses of trusted reverse proxies whose "
        "X-Forwarded-For/-Proto headers are believed (for client addresses in throttling and "
        "logs; never for issuer URLs).",
    )
    insecure_http: bool = Field(
        False,
        description="Allow plain HTTP on a non-loopback address (for a private network only).",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Worker processes (uvicorn workers) sharing the port; one per core is usual.",
    )
    worker_cpu_affinity: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Pin worker i to CPU i (modulo the CPUs this process may use), which keeps "
        "each worker's caches warm; 'auto' pins when there are several workers and exactly "
        "one per usable CPU (a dedicated host).",
    )
    reuse_port: bool = Field(
        True,
        description="With several workers on Linux, give each worker a listening socket of its "
        "own on the port (SO_REUSEPORT), so the kernel spreads connections evenly over them; "
        "false: one shared socket, whose pending connections all go to the worker that wakes "
        "first.",
    )
    issuer_base_url: str | None = Field(
        None,
        description="Public base URL of the authorization server (the 'sso' host); issuers are "
        "<issuer_base_url>/realms/<tenant>. Unset: http://<host>:<port>.",
    )
    api_base_url: str | None = Field(
        None,
        description="Public base URL of the tenant API (the 'api' host). Unset: the issuer base.",
    )
    api_audience: str | None = Field(
        None,
        description="The 'aud' of access tokens and the audience the tenant API requires. "
        "Unset: the API base URL.",
    )
    default_signing_alg: str = Field(
        "RS256", description=f"Signing algorithm of new tenants: one of {SUPPORTED_ALGORITHMS}."
    )
    access_token_lifespan: int = Field(
        7200, ge=60, description="Default access token lifespan of new tenants, in seconds."
    )
    session_max_lifespan: int = Field(
        57600,
        ge=60,
        description="Default maximum token lifespan of new tenants (16 h), in seconds.",
    )
    migrate_on_start: bool = Field(
        True,
        description="Migrate the database schema when a node starts. Turn it off when several "
        "nodes share a database and run `realmgate db upgrade` once instead; a node then "
        "refuses to start on a schema it does not run on.",
    )
    cache_poll_interval: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Seconds between polls of the change feed that keeps every node's cache fresh.",
    )
    key_rotation_period: int = Field(
        90 * 24 * 3600,
        ge=0,
        description="Seconds after which a tenant's signing key is rotated automatically "
        "(0: never). The old key keeps verifying until its last token expires.",
    )
    maintenance_interval: float = Field(
        60.0,
        gt=0,
        description="Seconds between maintenance runs: scheduled key rotation and pruning of "
        "expired revocations and used client assertions.",
    )
    throttle_window: int = Field(
        300,
        ge=1,
        description="Seconds of the sliding window in which failed authentications are counted "
        "(a sliding window counter: a failure counts fully until its window-long bucket ends, "
        "then less and less over one more window).",
    )
    throttle_source_free: int = Field(
        10,
        ge=0,
        description="Failed authentications per source address (IPv6: per /64) in the window "
        "before back-off starts.",
    )
    throttle_source_cap: float = Field(
        300.0, gt=0, description="Longest block of a source address, in seconds."
    )
    throttle_client_free: int = Field(
        20,
        ge=0,
        description="Failed authentications per (tenant, clientId) in the window before back-off "
        "starts (from all sources together).",
    )
    throttle_client_cap: float = Field(
        10.0,
        gt=0,
        description="Longest block of a client, in seconds (it never applies to the client's "
        "known good sources, see throttle_known_source_ttl).",
    )
    throttle_base_delay: float = Field(
        1.0,
        gt=0,
        description="Seconds of a key's first block; each further failure counted after it "
        "doubles the block, up to the key's cap.",
    )
    throttle_known_source_ttl: float = Field(
        86_400.0,
        ge=0,
        description="Seconds after its last successful authentication of a client during which "
        "a source address (IPv6: its /64) stays exempt from that client's block (not from its "
        "own): failures from other addresses cannot lock the client's own machines out. "
        "Shared by every worker and node; 0 turns the exemption off.",
    )
    throttle_sync_interval: float = Field(
        1.0,
        gt=0,
        description="Seconds between a worker's exchanges with the throttle's shared store: the "
        "blocks and known good sources that other workers and nodes wrote take effect here "
        "within about this time.",
    )
    token_rate_limit: float = Field(
        500.0,
        ge=0,
        description="Tokens a client may get per second from one node (0: unlimited).",
    )
    token_rate_burst: int = Field(
        1000, ge=1, description="Tokens a client may get at once from one node."
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL for the throttle's shared counters and the DPoP proofs' replay "
        "records (redis://host:6379/0). Unset: the database.",
    )
    bootstrap_demo: bool = Field(
        True,
        description="On an empty database, create the tenant 'demo' and print its credentials "
        "(the shipped systemd unit turns it off).",
    )
    bootstrap_admin: bool = Field(
        True,
        description="On an empty database, create the administrative realm 'master' with the "
        "admin client 'realmgate-admin' (realm role 'admin': every realm, through the admin "
        "API) and print its credentials as the demo ones are printed. `realmgate admin "
        "create-client` makes one on an existing database.",
    )
    bootstrap_demo_secret: Literal["terminal", "stdout"] = Field(
        "terminal",
        description="Where the first start shows the demo client's secret: 'terminal' only when "
        "standard output is a terminal, so that it never lands in a service's log (otherwise "
        "the command that makes a new secret is printed instead); 'stdout' whatever standard "
        "output is (for scripts and tests that capture it).",
    )
    console_enabled: bool = Field(
        True,
        description="Serve the admin console (HTML pages for operators) under console_path.",
    )
    console_path: str = Field(
        "/admin/console",
        pattern=r"^(/[A-Za-z0-9_-]+)+$",
        description="URL path of the admin console: starts with '/', no trailing slash, "
        "letters, digits, '/', '_' and '-' only.",
    )
    console_session_idle: int = Field(
        1800,
        ge=2,
        le=86_400,
        description="Seconds after which an unused console session ends (the operator signs "
        "in again).",
    )
    console_session_absolute: int = Field(
        43_200,
        ge=60,
        le=604_800,
        description="Seconds after sign-in at which a console session ends however much it "
        "is used.",
    )
    console_require_totp: bool = Field(
        False,
        description="Every operator must use a second factor (TOTP): one without it is led "
        "to enrol right after the password and reaches nothing else until done.",
    )
    bootstrap_operator: bool = Field(
        True,
        description="On an empty database, create the console operator 'admin' (role admin) "
        "with a generated password and print it as the admin client's credentials are "
        "printed (terminal only, see bootstrap_demo_secret). `realmgate operator add` makes "
        "more.",
    )
    traffic_flush_interval: float = Field(
        10.0,
        gt=0,
        le=60,
        description="Seconds between writes of each worker's per-tenant token and failed "
        "authentication counts to the database (the console dashboard's chart); the counts "
        "are charted in the minute of the write.",
    )
    max_body_bytes: int = Field(
        65536, ge=1024, description="Largest request body accepted; larger ones get 413."
    )
    admin_max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Largest request body the admin API accepts; larger ones get 413.",
    )
    admin_rate_limit: float = Field(
        100.0,
        ge=0,
        description="Admin API requests per second of one admin client on one node "
        "(0: unlimited); beyond it 429 with Retry-After.",
    )
    admin_rate_burst: int = Field(
        200, ge=1, description="Admin API requests one admin client may make at once."
    )
    admin_secret_reveal_window: int = Field(
        300,
        ge=0,
        le=86_400,
        description="Seconds during which a client secret made by the admin API (a new client, "
        "a regenerated secret) can be read once with GET .../client-secret, as Keycloak's "
        "scripts do; it is kept encrypted under the master key until its first read or the "
        "end of the window, then only its hash remains (0: never readable).",
    )
    http_read_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a client has to send a whole request (head and body) from its "
        "first byte, or from the connection's start; then 408 and the connection is closed.",
    )
    http_max_head_bytes: int = Field(
        16_384,
        ge=1024,
        le=1_048_576,
        description="Largest request head (request line and headers, in bytes); a larger one "
        "gets 431 and the connection is closed.",
    )
    http_max_headers: int = Field(
        100, ge=10, le=1000, description="Most headers in one request; more get 431."
    )
    http_max_connections: int = Field(
        1024,
        ge=16,
        description="Open connections per worker. A new connection beyond it closes the one "
        "that has waited longest for a request (idle, or still sending one), or gets 503 with "
        "Retry-After when every connection is busy.",
    )
    http_keep_alive_timeout: int = Field(
        120,
        ge=1,
        le=3600,
        description="Seconds an idle keep-alive connection is kept open. Longer than the "
        "connection pools of common clients keep idle connections (httpx 5 s, aiohttp 15 s, "
        "Go 90 s), so a client does not reuse a connection the server is closing.",
    )
    realm_cache_size: int = Field(
        100_000,
        ge=1,
        description="Realms (tenant, decrypted signing key) each worker keeps in memory, least "
        "recently used out; about 4 KB each with the parsed key. Size it above the number of "
        "tenants active within a few minutes: a realm that was pushed out is read from the "
        "database again.",
    )
    client_cache_size: int = Field(
        200_000,
        ge=1,
        description="Client records each worker keeps in memory, least recently used out "
        "(about 0.7 KB each, plus 1.6 KB for its remembered token request).",
    )
    token_request_cache_size: int = Field(
        16_384,
        ge=0,
        description="Token requests that passed every check, remembered per worker (by a keyed "
        "digest: the secret is never kept), so a client's repeated request skips parsing, the "
        "secret check and the scope policy for as long as the tenant and the client are "
        "unchanged (throttle and rate limit still apply); 0 turns it off.",
    )
    api_token_cache_size: int = Field(
        4096,
        ge=0,
        description="Verified bearer tokens the tenant API remembers per worker, so a repeated "
        "token skips the signature check (expiry, keys, revocation and clients are still "
        "checked on every request); 0 turns the cache off.",
    )
    revocation_cache_size: int = Field(
        50_000,
        ge=0,
        description="Revoked token ids each worker keeps in memory (about 210 bytes each: "
        "100,000 take 21 MB), each until its token's exp plus the 30 s leeway. Beyond it, the "
        "entries due first stay only in the database, and until they are due the tenant API and "
        "introspection ask the database about any token not in memory (one query per request); "
        "no revocation is ever forgotten. 0: every lookup asks the database while a revoked "
        "token is in force.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that Prometheus sends to scrape /metrics "
        "(Authorization: Bearer <token>). Unset: /metrics is not served (404). Each worker "
        "answers with its own counters.",
    )
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text or as one JSON object per line."
    )
    access_log: bool = Field(
        False,
        description="Log every request: method, path without query string, status, duration.",
    )
