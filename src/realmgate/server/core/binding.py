"""Which confirmation (``cnf``) a token request's token gets: RFC 9449 §6, RFC 8705 §3.1.

- A request with a valid DPoP proof gets ``cnf.jkt`` (the proof key's RFC 7638 thumbprint)
  and the token type ``DPoP``, whatever the client's policy: the client asked for it.
- A client with ``dpop_bound`` (Keycloak's ``dpop.bound.access.tokens``), or of a tenant with
  ``dpop_required``, must send a proof: without one, 400 ``invalid_dpop_proof`` "DPoP proof is
  missing" (Keycloak's answer).
- A client with ``cert_bound`` (``tls.client.certificate.bound.access.tokens``) must come with
  a client certificate: without one, 400 ``invalid_request`` "Client Certification missing for
  MTLS HoK Token Binding" (Keycloak's answer); with one, ``cnf["x5t#S256"]``. Only such
  clients get certificate-bound tokens (as Keycloak).

Both members when both apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from realmgate.jose.dpop import DpopProof
from realmgate.server.storage.records import ClientRecord, TenantRecord
from realmgate.verifier._certs import cert_thumbprint
from realmgate.wire.errors import InvalidDpopProof, InvalidRequest

MISSING_PROOF = "DPoP proof is missing"
MISSING_CERT = "Client Certification missing for MTLS HoK Token Binding"


@dataclass(frozen=True, slots=True)
class Binding:
    """A token's confirmation: the DPoP key thumbprint and/or the certificate thumbprint."""

    jkt: str | None = None
    x5t_s256: str | None = None

    @property
    def bound(self) -> bool:
        return self.jkt is not None or self.x5t_s256 is not None

    @property
    def token_type(self) -> str:
        return "DPoP" if self.jkt is not None else "Bearer"

    def cnf(self) -> dict[str, Any] | None:
        cnf: dict[str, Any] = {}
        if self.jkt is not None:
            cnf["jkt"] = self.jkt
        if self.x5t_s256 is not None:
            cnf["x5t#S256"] = self.x5t_s256
        return cnf or None

    def claim_json(self) -> bytes:
        """``"cnf":{...},`` for splicing in front of the other claims (empty when unbound)."""
        cnf = self.cnf()
        if cnf is None:
            return b""
        return b'"cnf":' + json.dumps(cnf, separators=(",", ":")).encode() + b","


UNBOUND = Binding()


def dpop_required(tenant: TenantRecord, client: ClientRecord) -> bool:
    return client.dpop_bound or tenant.dpop_required


def decide(
    tenant: TenantRecord, client: ClientRecord, proof: DpopProof | None, cert: bytes | None
) -> Binding:
    """The binding of a token for ``client`` from a request with ``proof`` (checked) and
    ``cert`` (DER, the request's client certificate); refuses what the policy demands."""
    if proof is None and dpop_required(tenant, client):
        raise InvalidDpopProof(MISSING_PROOF)
    x5t = None
    if client.cert_bound:
        if cert is None:
            raise InvalidRequest(MISSING_CERT)
        x5t = cert_thumbprint(cert)
    if proof is None and x5t is None:
        return UNBOUND
    return Binding(jkt=proof.jkt if proof is not None else None, x5t_s256=x5t)
