// openid-client (panva) gets a DPoP-bound access token (RFC 9449) from realmgate with the client
// credentials grant and calls the tenant API with it: tests/interop/test_openid_client_dpop.py
// starts the server and runs this file.
//
// Input (environment, never argv): ISSUER (http://host:port/realms/<tenant>), CLIENT_ID,
// CLIENT_SECRET, API_URL (the tenant API resource, e.g. http://host:port/v2/tenants/current/settings).
// Output: one JSON line per step on stdout, then {"done": true, ...}; exit 1 on the first failed
// check, with the reason on stderr. No token, secret or proof is printed.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as client from "openid-client";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
};
const issuer = env("ISSUER");
const clientId = env("CLIENT_ID");
const clientSecret = env("CLIENT_SECRET");
const apiUrl = new URL(env("API_URL"));

const step = (name, detail = {}) => console.log(JSON.stringify({ step: name, ...detail }));
const b64json = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
const claims = (jwt) => b64json(jwt.split(".")[1]);
const header = (jwt) => b64json(jwt.split(".")[0]);

// RFC 7638 thumbprint of an EC public JWK: SHA-256 of {"crv","kty","x","y"} in that order.
async function thumbprint(publicKey) {
  const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", publicKey);
  const canonical = JSON.stringify({ crv, kty, x, y });
  return createHash("sha256").update(canonical).digest("base64url");
}

// The challenge openid-client parsed from a 401's WWW-Authenticate (its
// WWWAuthenticateChallengeError): the DPoP one, with the status.
async function refusal(promise) {
  try {
    await promise;
  } catch (err) {
    if (err instanceof client.WWWAuthenticateChallengeError) {
      const dpop = err.cause.find((c) => c.scheme === "dpop");
      return { status: err.response.status, dpop, schemes: err.cause.map((c) => c.scheme) };
    }
    throw err;
  }
  assert.fail("the request succeeded; a 401 was expected");
}

// A plain fetch (no library) replaying or downgrading what openid-client sent.
async function raw(headers) {
  const response = await fetch(apiUrl, { headers });
  return {
    status: response.status,
    challenge: response.headers.get("www-authenticate") ?? "",
    body: await response.json().catch(() => null),
  };
}

// 1. Discovery: the metadata announces DPoP.
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
const metadata = config.serverMetadata();
assert.equal(metadata.issuer, issuer);
assert.ok(
  Array.isArray(metadata.dpop_signing_alg_values_supported) &&
    metadata.dpop_signing_alg_values_supported.includes("ES256"),
  `dpop_signing_alg_values_supported: ${JSON.stringify(metadata.dpop_signing_alg_values_supported)}`,
);
step("discovered", { dpopAlgs: metadata.dpop_signing_alg_values_supported });

// Every request openid-client makes, as sent (headers only).
const sent = [];
config[client.customFetch] = (url, options) => {
  sent.push({ url: String(url), method: options.method, headers: new Headers(options.headers) });
  return fetch(url, options);
};

// 2. The token: client credentials with a DPoP proof.
const keyPair = await client.randomDPoPKeyPair("ES256");
const jkt = await thumbprint(keyPair.publicKey);
const dpop = client.getDPoPHandle(config, keyPair);
const tokens = await client.clientCredentialsGrant(config, {}, { DPoP: dpop });
assert.equal(tokens.token_type, "dpop"); // oauth4webapi lower-cases it
const accessToken = tokens.access_token;
const tokenClaims = claims(accessToken);
assert.equal(tokenClaims.cnf?.jkt, jkt, "cnf.jkt is the thumbprint of the proof's key");
const tokenRequest = sent.at(-1);
const tokenProof = tokenRequest.headers.get("dpop");
assert.ok(tokenProof, "openid-client sent a DPoP header to the token endpoint");
assert.equal(header(tokenProof).typ, "dpop+jwt");
step("token", {
  tokenType: tokens.token_type,
  cnfMembers: Object.keys(tokenClaims.cnf).sort(),
  proofAlg: header(tokenProof).alg,
  tokenRequests: sent.length,
});

// 3. The tenant API with the token and a fresh proof (ath, htm, htu), from the library.
const before = sent.length;
const response = await client.fetchProtectedResource(
  config,
  accessToken,
  apiUrl,
  "GET",
  undefined,
  undefined,
  { DPoP: dpop },
);
assert.equal(response.status, 200);
const body = await response.json();
assert.equal(body.status, "success");
const apiRequest = sent.at(-1);
assert.equal(apiRequest.headers.get("authorization"), `DPoP ${accessToken}`);
const apiProof = apiRequest.headers.get("dpop");
const proofClaims = claims(apiProof);
assert.equal(proofClaims.htm, "GET");
assert.equal(proofClaims.ath, createHash("sha256").update(accessToken).digest("base64url"));
step("resource", {
  status: response.status,
  shortcode: body.data?.shortcode,
  apiRequests: sent.length - before,
});

// 4. The same proof again (a replay, by plain fetch): refused.
const replay = await raw({ Authorization: `DPoP ${accessToken}`, DPoP: apiProof });
assert.equal(replay.status, 401);
assert.match(replay.challenge, /^DPoP /);
step("replayed proof refused", { status: replay.status, challenge: replay.challenge });

// 5. The DPoP-bound token sent as a bearer token: refused (RFC 9449 §7.2).
const downgrade = await raw({ Authorization: `Bearer ${accessToken}` });
assert.equal(downgrade.status, 401);
step("bearer downgrade refused", { status: downgrade.status, challenge: downgrade.challenge });

// 6. The token with proofs of another key (a stolen token): refused, seen through the library.
const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair("ES256"));
const stolen = await refusal(
  client.fetchProtectedResource(config, accessToken, apiUrl, "GET", undefined, undefined, {
    DPoP: thief,
  }),
);
assert.equal(stolen.status, 401);
assert.ok(stolen.dpop, `a DPoP challenge, got ${JSON.stringify(stolen.schemes)}`);
step("stolen token refused", { status: stolen.status, error: stolen.dpop.parameters.error });

// 7. Introspection (RFC 7662, RFC 9449 §6.2) by the same client: cnf and token_type.
const introspected = await client.tokenIntrospection(config, accessToken);
assert.equal(introspected.active, true);
assert.equal(introspected.cnf?.jkt, jkt);
step("introspected", { tokenType: introspected.token_type, cnfJkt: introspected.cnf?.jkt === jkt });

console.log(JSON.stringify({ done: true, requests: sent.length }));
