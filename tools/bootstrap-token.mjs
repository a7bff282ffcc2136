// `cluster.mjs bootstrap-token`: a bootstrap token for TLS bootstrap, as
// `kubeadm token create` makes one (and `k3s token create` on k3s).
//
// The token is a Secret kube-system/bootstrap-token-<id> of type
// bootstrap.kubernetes.io/token. The API server (--enable-bootstrap-token-auth)
// accepts "<id>.<secret>" as a bearer token for user system:bootstrap:<id> in
// group system:bootstrappers plus the groups in auth-extra-groups, until
// `expiration`; KCM's tokencleaner deletes the Secret after that. The token is
// only for authentication (no usage-bootstrap-signing: nothing here signs the
// cluster-info ConfigMap with it). deploy/bootstrap-rbac.yaml is what lets such a
// user create a CSR and have it approved.

import { randomInt } from 'node:crypto';
import https from 'node:https';

// Token id and secret: [a-z0-9]{6} and [a-z0-9]{16} (the format the API server's
// bootstrap authenticator accepts).
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
export const EXTRA_GROUP = 'system:bootstrappers:picokubelet';

function randomString(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

/** Go-style duration ("24h", "1h30m", "90s") to milliseconds; "0" is 0. null when malformed. */
export function parseGoDuration(text) {
  if (text === '0') return 0;
  const units = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    ms += Number(m[1]) * units[m[2]];
    at = re.lastIndex;
  }
  return at === text.length && at > 0 ? ms : null;
}

/** The Secret for a new token (expiration omitted when ttlMs is 0: a token that never expires). */
export function bootstrapTokenSecret({ ttlMs, now = new Date(), description }) {
  const id = randomString(6);
  const secret = randomString(16);
  const stringData = {
    'token-id': id,
    'token-secret': secret,
    'usage-bootstrap-authentication': 'true',
    'auth-extra-groups': EXTRA_GROUP,
    description,
  };
  if (ttlMs > 0) stringData.expiration = new Date(now.getTime() + ttlMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    id,
    token: `${id}.${secret}`,
    expiration: stringData.expiration || null,
    object: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system', labels: { 'app.kubernetes.io/part-of': 'picokubelet' } },
      type: 'bootstrap.kubernetes.io/token',
      stringData,
    },
  };
}

/** POSTs the Secret as the cluster's admin (cluster.json's token, verified against the cluster CA). */
export function createSecret(info, object) {
  const body = JSON.stringify(object);
  const url = new URL('/api/v1/namespaces/kube-system/secrets', info.server);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'POST',
        ca: info.caPEM,
        timeout: 15_000,
        headers: {
          Authorization: `Bearer ${info.adminToken}`,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          Accept: 'application/json',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout creating the bootstrap token Secret')));
    req.on('error', reject);
    req.end(body);
  });
}
