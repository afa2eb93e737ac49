// Keycloak's own Node admin client (@keycloak/keycloak-admin-client) runs a provisioning
// script unchanged against realmgate: the flow and the error paths of
// tests/interop/test_keycloak_admin_client.py, which starts the server and runs this file.
//
// Input (environment, never argv): REALMGATE_URL, ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET (a
// master client with realm role `admin`), REALM (the realm to create), PROPAGATION_MS.
// Output: one JSON line per step on stdout, then {"done": true, ...}; exit 1 on the first
// failed check, with the reason on stderr.

import assert from "node:assert/strict";
import KcAdminClient from "@keycloak/keycloak-admin-client";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
};
const baseUrl = env("REALMGATE_URL");
const adminId = env("ADMIN_CLIENT_ID");
const adminSecret = env("ADMIN_CLIENT_SECRET");
const realm = env("REALM");
const propagationMs = Number(process.env.PROPAGATION_MS ?? "15000");
const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";

const step = (name, detail = {}) => console.log(JSON.stringify({ step: name, ...detail }));

const claims = (token) =>
  JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));

// The error the client throws for a non-2xx answer (its NetworkError): status and body.
async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    if (err?.response?.status) {
      return { status: err.response.status, data: err.responseData, message: err.message };
    }
    throw err;
  }
  assert.fail("the call succeeded; an error was expected");
}

// A client of `realm` logging in with client credentials, as the library does it
// (client_secret_basic). Returns the client or the status that refused the login.
async function login(clientId, clientSecret) {
  const kc = new KcAdminClient({ baseUrl, realmName: realm });
  try {
    await kc.auth({ grantType: "client_credentials", clientId, clientSecret });
    return kc;
  } catch (err) {
    if (err?.response?.status) return err.response.status;
    throw err;
  }
}

// A change made on one worker reaches the others within the propagation bound: poll.
async function eventually(fetch, done) {
  const deadline = Date.now() + propagationMs;
  let result = await fetch();
  while (!done(result) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    result = await fetch();
  }
  return result;
}

const admin = new KcAdminClient({ baseUrl, realmName: "master" });
await admin.auth({ grantType: "client_credentials", clientId: adminId, clientSecret: adminSecret });
assert.equal(admin.refreshToken, undefined); // client credentials: no refresh token, no crash
step("admin login", { realmRoles: claims(admin.accessToken).realm_access?.roles ?? [] });

// -- the flow ------------------------------------------------------------------------------
const created = await admin.realms.create({ realm, enabled: true, displayName: "Node admin" });
assert.deepEqual(created, { realmName: realm });
const realmRep = await admin.realms.findOne({ realm });
assert.equal(realmRep.realm, realm);
assert.equal(realmRep.displayName, "Node admin");
admin.setConfig({ realmName: realm }); // the target realm; the token stays master's
step("realm created");

const { id } = await admin.clients.create({
  clientId: "orders-sync",
  name: "Orders sync",
  enabled: true,
  protocol: "openid-connect",
  publicClient: false,
  clientAuthenticatorType: "client-secret",
  serviceAccountsEnabled: true,
  standardFlowEnabled: false,
  directAccessGrantsEnabled: false,
  attributes: { "access.token.lifespan": "900" },
});
assert.match(id, /^[0-9a-f-]{36}$/);
const found = await admin.clients.find({ clientId: "orders-sync" });
assert.equal(found.length, 1);
assert.equal(found[0].id, id);
const clientRep = await admin.clients.findOne({ id });
assert.equal(clientRep.clientId, "orders-sync");
assert.equal(clientRep.serviceAccountsEnabled, true);
assert.equal(clientRep.attributes["access.token.lifespan"], "900");
assert.equal(clientRep.secret, undefined);
step("client created", { id });

const secret = await admin.clients.getClientSecret({ id });
assert.equal(secret.type, "secret");
assert.ok(secret.value.length >= 32);
step("secret read");

const role = await admin.roles.create({ name: "orders:read", description: "read orders" });
assert.deepEqual(role, { roleName: "orders:read" });
const roleRep = await admin.roles.findOneByName({ name: "orders:read" });
assert.equal(roleRep.name, "orders:read");
assert.equal(roleRep.description, "read orders");
const user = await admin.clients.getServiceAccountUser({ id });
assert.equal(user.username, "service-account-orders-sync");
await admin.users.addRealmRoleMappings({
  id: user.id,
  roles: [{ id: roleRep.id, name: roleRep.name }],
});
const mapped = await admin.users.listRealmRoleMappings({ id: user.id });
assert.ok(mapped.some((r) => r.name === "orders:read"));
step("role mapped", { user: user.id });

const withRole = await eventually(
  () => login("orders-sync", secret.value),
  (kc) => typeof kc !== "number" && claims(kc.accessToken).realm_access?.roles?.includes("orders:read"),
);
assert.notEqual(typeof withRole, "number", `login refused: ${withRole}`);
const tokenClaims = claims(withRole.accessToken);
assert.ok(tokenClaims.realm_access.roles.includes("orders:read"));
assert.equal(tokenClaims.exp - tokenClaims.iat, 900);
step("token has the role", { roles: tokenClaims.realm_access.roles });

// a token without an admin role: 403 from the admin API
const denied = await failure(withRole.clients.find());
assert.equal(denied.status, 403);
assert.deepEqual(denied.data, { error: "HTTP 403 Forbidden" });
assert.equal(denied.message, "HTTP 403 Forbidden");
const deniedRole = await failure(withRole.roles.create({ name: "intruder" }));
assert.equal(deniedRole.status, 403);
step("a token without the role gets 403");

const regenerated = await admin.clients.generateNewClientSecret({ id });
assert.equal(regenerated.type, "secret");
assert.notEqual(regenerated.value, secret.value);
const old = await eventually(() => login("orders-sync", secret.value), (r) => r === 401);
assert.equal(old, 401);
const fresh = await login("orders-sync", regenerated.value);
assert.notEqual(typeof fresh, "number", `new secret refused: ${fresh}`);
step("secret regenerated");

await admin.clients.update({ id }, { ...(await admin.clients.findOne({ id })), enabled: false });
assert.equal((await admin.clients.findOne({ id })).enabled, false);
const disabled = await eventually(() => login("orders-sync", regenerated.value), (r) => r === 401);
assert.equal(disabled, 401);
step("client disabled");

// -- error paths -------------------------------------------------------------------------
const dup = await failure(admin.clients.create({ clientId: "orders-sync", serviceAccountsEnabled: true }));
assert.equal(dup.status, 409);
assert.deepEqual(dup.data, { errorMessage: "Client orders-sync already exists" });
assert.equal(dup.message, "Client orders-sync already exists");
const dupRealm = await failure(admin.realms.create({ realm, enabled: true }));
assert.equal(dupRealm.status, 409);
assert.equal(dupRealm.message, `Realm ${realm} already exists`);
step("duplicates get 409");

assert.equal(await admin.clients.findOne({ id: UNKNOWN_ID }), null); // 404 -> null
assert.equal(await admin.roles.findOneByName({ name: "no-such-role" }), null);
assert.equal(await admin.realms.findOne({ realm: `${realm}-nope` }), null);
const unknownSecret = await failure(admin.clients.getClientSecret({ id: UNKNOWN_ID }));
assert.equal(unknownSecret.status, 404);
assert.deepEqual(unknownSecret.data, { error: "Could not find client" });
assert.equal(unknownSecret.message, "Could not find client");
const unknownDelete = await failure(admin.clients.del({ id: UNKNOWN_ID }));
assert.equal(unknownDelete.status, 404);
step("unknown ids get 404");

// -- deletion ----------------------------------------------------------------------------
await admin.clients.del({ id });
assert.equal(await admin.clients.findOne({ id }), null);
assert.deepEqual(await admin.clients.find({ clientId: "orders-sync" }), []);
await admin.realms.del({ realm });
assert.equal(await admin.realms.findOne({ realm }), null);
step("client and realm deleted");

console.log(JSON.stringify({ done: true, realm, client: id, roles: tokenClaims.realm_access.roles }));
