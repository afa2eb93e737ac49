// node-oidc-provider peer for `python -m bench`: the client credentials grant with JWT access
// tokens (resource indicators, accessTokenFormat 'jwt'), in a node cluster of BENCH_WORKERS workers on 127.0.0.1:BENCH_PORT.
// The resource picks the algorithm: resource=https://rs256.bench.example signs with RS256,
// resource=https://es256.bench.example with ES256 (the audience is the resource).
// Clients: bench-0 .. bench-(BENCH_CLIENTS-1), secret BENCH_SECRET, client_secret_post.
// DPoP (RFC 9449, features.dPoP, on by default in oidc-provider 9, set here explicitly): a token
// request with a DPoP header gets its proof checked (jti replay: the ReplayDetection model of
// the default in-memory adapter, i.e. per worker) and a token bound to the key (cnf.jkt).
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

const port = Number(process.env.BENCH_PORT || 3000);
const workers = Number(process.env.BENCH_WORKERS || 2);
const nClients = Number(process.env.BENCH_CLIENTS || 64);
const secret = process.env.BENCH_SECRET || 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const keyFile = process.env.BENCH_KEYS; // shared by the workers (one JWKS for the cluster)

function makeKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return { keys: [{ ...rsa, use: 'sig', alg: 'RS256', kid: 'rs' }, { ...ec, use: 'sig', alg: 'ES256', kid: 'es' }] };
}

if (cluster.isPrimary) {
  if (keyFile && !existsSync(keyFile)) writeFileSync(keyFile, JSON.stringify(makeKeys()), { mode: 0o600 });
  for (let i = 0; i < workers; i += 1) cluster.fork();
  cluster.on('exit', (w, code) => { if (code) { console.error(`worker ${w.process.pid} exited ${code}`); process.exit(1); } });
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill('SIGTERM'); process.exit(0); });
} else {
  const { default: Provider } = await import('oidc-provider');
  const jwks = keyFile ? JSON.parse(readFileSync(keyFile, 'utf8')) : makeKeys();
  const clients = [];
  for (let i = 0; i < nClients; i += 1) {
    clients.push({
      client_id: `bench-${i}`,
      client_secret: secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'email profile',
    });
  }
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients,
    jwks,
    scopes: ['openid', 'email', 'profile'],
    ttl: { ClientCredentials: 7200 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://rs256.bench.example',
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => ({
          scope: 'email profile',
          audience: resource,
          accessTokenTTL: 7200,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: resource.startsWith('https://es256.') ? 'ES256' : 'RS256' } },
        }),
      },
    },
  });
  provider.listen(port, '127.0.0.1');
}
