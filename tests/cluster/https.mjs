// One JSON request to an API server over verified TLS, for every suite of tests/cluster: the shared
// cluster's (helpers.mjs) and those that start a control plane of their own (kine, v1.31). Needs no
// cluster at import time.
import https from 'node:https';

/**
 * `method urlPath` against `server`, verifying its certificate with `ca`. `auth` is `{ token }` or
 * `{ cert, key }`. Resolves with the status, the body text and the body as JSON (null if it is not).
 */
export function requestJson(server, ca, method, urlPath, { body, auth = {}, contentType, timeoutMs = 15_000 } = {}) {
  const url = new URL(urlPath, server);
  const headers = { Accept: 'application/json' };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    headers['Content-Type'] = contentType || 'application/json';
    headers['Content-Length'] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca, cert: auth.cert, key: auth.key, timeout: timeoutMs, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timeout`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
