// host-sim/src/credentials.ts
// Credentials the Kubernetes way: a kubeconfig read with @kubernetes/client-node (--kubeconfig, then
// $KUBECONFIG, then ~/.kube/config; --context), with --token/--token-file/--ca overrides. The server URL
// becomes the core's apiHost/apiPort/serverName; the CA and client certificate stay in the host's TLS
// settings and the bearer token goes to the core. A bootstrap kubeconfig (--bootstrap-kubeconfig, the
// kubelet's flag: server, CA and a bootstrap token `<id>.<secret>`) gives the core `bootstrapToken`
// instead: it makes its own key and asks for a system:node:<name> certificate (TLS bootstrap). Nothing here
// logs a token or a key.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { CredentialsError } from './errors.js';
import type { TlsSettings } from './transport/tls.js';

/** Everything a node needs to reach and authenticate to an API server. */
export interface Credentials {
  /** The server URL as written in the kubeconfig. */
  server: string;
  apiHost: string;
  apiPort: number;
  /** Name the certificate must match (kubeconfig tls-server-name, else the host). */
  serverName: string;
  /** Bearer token, when the user has one (handed to the core). */
  token?: string;
  /** A bootstrap token `<id>.<secret>` (handed to the core as `bootstrapToken`; never with `token`). */
  bootstrapToken?: string;
  /** TLS trust and client identity (kept by the host). */
  tls: TlsSettings;
  /** Where these came from, for logs: `<file> context <name> user <name>`. */
  source: string;
  /** `token`, `client-certificate`, or `bootstrap-token` (TLS bootstrap). */
  auth: 'token' | 'client-certificate' | 'bootstrap-token';
}

export { CredentialsError };

/** A bootstrap token as the API server's bootstrap authenticator takes it: `[a-z0-9]{6}.[a-z0-9]{16}`. */
export const BOOTSTRAP_TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

/** The user a bootstrap token authenticates as (`system:bootstrap:<id>`), or undefined when it is none. */
export function bootstrapUser(token: string | undefined): string | undefined {
  const m = token === undefined ? null : BOOTSTRAP_TOKEN.exec(token);
  return m ? `system:bootstrap:${m[1]}` : undefined;
}

/**
 * Reads a bootstrap kubeconfig (the kubelet's --bootstrap-kubeconfig): server, CA (or --ca) and a user
 * whose token is a bootstrap token. The result has `bootstrapToken` set and no client certificate: the
 * host connects with none until the core has installed the one the cluster issued.
 */
export function loadBootstrapCredentials(file: string, opts: Pick<CredentialOptions, 'context' | 'ca'> = {}): Credentials {
  const c = loadCredentials({ kubeconfig: file, context: opts.context, ca: opts.ca });
  if (c.token === undefined || !BOOTSTRAP_TOKEN.test(c.token)) {
    throw new CredentialsError(`--bootstrap-kubeconfig ${file}: its user has no bootstrap token (<id>.<secret>, [a-z0-9]{6}.[a-z0-9]{16}); ` +
      'make one with `npm run cluster -- bootstrap-token --out FILE` (k3s: `k3s token create`, docs/k3s.md)');
  }
  return {
    ...c,
    token: undefined,
    bootstrapToken: c.token,
    tls: { ca: c.tls.ca, insecure: c.tls.insecure },
    source: `${c.source} (bootstrap token, user ${bootstrapUser(c.token)})`,
    auth: 'bootstrap-token',
  };
}

export interface CredentialOptions {
  /** A kubeconfig file; default $KUBECONFIG, then ~/.kube/config. */
  kubeconfig?: string;
  /** A context other than current-context. */
  context?: string;
  /** Overrides: a bearer token, a file holding one, a CA bundle file. */
  token?: string;
  tokenFile?: string;
  ca?: string;
  /**
   * A bootstrap kubeconfig (the kubelet's --bootstrap-kubeconfig): used when `kubeconfig` is not given,
   * does not exist or cannot be used (see loadNodeCredentials).
   */
  bootstrapKubeconfig?: string;
}

/**
 * A node's credentials the way the kubelet chooses them. Without `bootstrapKubeconfig`: loadCredentials.
 * With it: `kubeconfig`, when given, existing and usable (its client certificate, if any, not expired),
 * wins; otherwise the bootstrap kubeconfig (never $KUBECONFIG or ~/.kube/config, which are often an
 * admin's). Unlike the kubelet, host-sim does not write a kubeconfig after bootstrapping: the issued
 * certificate stays in the cert dir (kubelet-client-current.pem), where the next start finds it.
 */
export function loadNodeCredentials(opts: CredentialOptions, env: NodeJS.ProcessEnv = process.env): Credentials {
  if (opts.bootstrapKubeconfig === undefined) return loadCredentials(opts, env);
  let why: string;
  if (opts.kubeconfig === undefined) why = 'no --kubeconfig given';
  else if (!fs.existsSync(opts.kubeconfig)) why = `--kubeconfig ${opts.kubeconfig} does not exist`;
  else {
    try {
      const c = loadCredentials(opts, env);
      const expired = c.tls.cert ? Date.parse(new crypto.X509Certificate(c.tls.cert).validTo) <= Date.now() : false;
      if (!expired) return c;
      why = `the client certificate of --kubeconfig ${opts.kubeconfig} has expired`;
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err;
      why = `--kubeconfig ${opts.kubeconfig} is not usable (${err.message})`;
    }
  }
  if (opts.token !== undefined || opts.tokenFile !== undefined) {
    throw new CredentialsError('--token/--token-file go with --kubeconfig, not with --bootstrap-kubeconfig (its token is the bootstrap token)');
  }
  const c = loadBootstrapCredentials(opts.bootstrapKubeconfig, opts);
  return { ...c, source: `${c.source}; ${why}` };
}

/** Reads and checks credentials. Throws CredentialsError with a one-line reason. */
export function loadCredentials(opts: CredentialOptions = {}, env: NodeJS.ProcessEnv = process.env): Credentials {
  const kc = new KubeConfig();
  const file = readKubeconfig(kc, opts.kubeconfig, env);
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) throw new CredentialsError(`${file}: no context named '${opts.context}'`);
    kc.setCurrentContext(opts.context);
  }
  const contextName = kc.getCurrentContext();
  if (!contextName || !kc.getContextObject(contextName)) {
    throw new CredentialsError(`${file}: no current-context (pass --context)`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new CredentialsError(`${file}: context '${contextName}' names no known cluster`);
  const user = kc.getCurrentUser();

  const { host, port } = parseServer(cluster.server, file);
  const insecure = cluster.skipTLSVerify === true;
  const serverName = cluster.tlsServerName || host;

  let ca: Buffer | undefined;
  if (opts.ca) ca = readFile(opts.ca, 'CA bundle (--ca)');
  else if (cluster.caData) ca = Buffer.from(cluster.caData, 'base64');
  else if (cluster.caFile) ca = readFile(cluster.caFile, `certificate-authority of cluster '${cluster.name}'`);
  if (ca) checkCertificates(ca, 'the CA bundle');

  let token: string | undefined;
  if (opts.token !== undefined) token = opts.token.trim();
  else if (opts.tokenFile) token = readFile(opts.tokenFile, 'token file (--token-file)').toString('utf8').trim();
  else if (user?.token) token = user.token.trim();
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    throw new CredentialsError('the bearer token is empty or has characters a header cannot carry');
  }

  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  if (user?.certData) cert = Buffer.from(user.certData, 'base64');
  else if (user?.certFile) cert = readFile(user.certFile, `client-certificate of user '${user.name}'`);
  if (user?.keyData) key = Buffer.from(user.keyData, 'base64');
  else if (user?.keyFile) key = readFile(user.keyFile, `client-key of user '${user.name}'`);
  if ((cert === undefined) !== (key === undefined)) {
    throw new CredentialsError(`${file}: user '${user?.name}' has a client certificate without a key, or a key without a certificate`);
  }
  if (cert && key) checkKeyPair(cert, key);

  if (token === undefined && cert === undefined) {
    if (user?.exec || user?.authProvider) {
      throw new CredentialsError(`${file}: user '${user.name}' uses an exec/auth-provider plugin; picokubelet needs a static token or a client certificate`);
    }
    throw new CredentialsError(`${file}: user '${user?.name ?? '(none)'}' has neither a bearer token nor a client certificate`);
  }
  return {
    server: cluster.server,
    apiHost: host,
    apiPort: port,
    serverName,
    token,
    tls: { ca, cert, key, insecure },
    source: `${file} context ${contextName} user ${user?.name ?? '(none)'}`,
    auth: token !== undefined ? 'token' : 'client-certificate',
  };
}

/** Loads the kubeconfig into `kc`; returns a name for messages. */
function readKubeconfig(kc: KubeConfig, explicit: string | undefined, env: NodeJS.ProcessEnv): string {
  let files: string[];
  if (explicit) files = [explicit];
  else if (env.KUBECONFIG) files = env.KUBECONFIG.split(path.delimiter).filter(Boolean);
  else files = [path.join(os.homedir(), '.kube', 'config')];
  if (files.length === 0) throw new CredentialsError('$KUBECONFIG names no file');
  for (const f of files) {
    if (!fs.existsSync(f)) {
      const how = explicit ? '--kubeconfig' : env.KUBECONFIG ? '$KUBECONFIG' : 'no --kubeconfig given, $KUBECONFIG is unset, and the default kubeconfig';
      throw new CredentialsError(`${how} ${f} does not exist: pass --kubeconfig FILE (for the local cluster, mint one with ` +
        '`npm run cluster -- kubeconfig-for-node NAME`, which prints its path)');
    }
  }
  try {
    kc.loadFromFile(files[0]);
    for (const f of files.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(f);
      kc.mergeConfig(more, true);
    }
  } catch (err) {
    throw new CredentialsError(`cannot read kubeconfig ${files.join(path.delimiter)}: ${oneLine((err as Error).message)}`);
  }
  return files.join(path.delimiter);
}

/** Splits an https:// server URL into host (IPv6 without brackets) and port (default 443). */
export function parseServer(server: string, file = 'kubeconfig'): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new CredentialsError(`${file}: server '${server}' is not a URL`);
  }
  if (url.protocol !== 'https:') throw new CredentialsError(`${file}: server '${server}' is not https:// (the core speaks TLS only)`);
  if (url.pathname !== '/' && url.pathname !== '') throw new CredentialsError(`${file}: server '${server}' has a path prefix, which the core does not support`);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port ? Number(url.port) : 443 };
}

function readFile(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new CredentialsError(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Every PEM certificate in `pem` must parse. */
function checkCertificates(pem: Buffer, what: string): void {
  const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new CredentialsError(`${what} holds no PEM certificate`);
  for (const b of blocks) {
    try {
      new crypto.X509Certificate(b);
    } catch (err) {
      throw new CredentialsError(`${what} has a certificate that does not parse: ${(err as Error).message}`);
    }
  }
}

/** The client certificate must parse and belong to the key (message never quotes the key). */
function checkKeyPair(cert: Buffer, key: Buffer): void {
  checkCertificates(cert, 'the client certificate');
  let k: crypto.KeyObject;
  try {
    k = crypto.createPrivateKey(key);
  } catch {
    throw new CredentialsError('the client key is not a readable private key');
  }
  const leaf = new crypto.X509Certificate(cert.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
  if (!leaf.checkPrivateKey(k)) throw new CredentialsError('the client key does not belong to the client certificate');
}

/** The verdict of a pre-flight TLS handshake with the API server. */
export type Preflight =
  | { ok: true }
  | { ok: false; unverifiable: true; reason: string }
  | { ok: false; unverifiable: false; reason: string };

/**
 * One TLS handshake to the server with the same verification the transport uses. `unverifiable` means the
 * server answered but its certificate failed verification: a host must refuse to start. Any other
 * failure (refused, timeout) is for the core to retry.
 */
export function preflight(creds: Credentials, timeoutMs = 5_000): Promise<Preflight> {
  return new Promise((resolve) => {
    let tcpUp = false;
    const socket = tls.connect({
      host: creds.apiHost,
      port: creds.apiPort,
      ca: creds.tls.ca,
      cert: creds.tls.cert,
      key: creds.tls.key,
      servername: net.isIP(creds.serverName) ? undefined : creds.serverName,
      rejectUnauthorized: creds.tls.insecure !== true,
      checkServerIdentity: (_h, cert) => tls.checkServerIdentity(creds.serverName, cert),
    });
    const done = (p: Preflight): void => {
      socket.destroy();
      resolve(p);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, unverifiable: false, reason: `no TLS handshake within ${timeoutMs} ms` }));
    socket.once('connect', () => (tcpUp = true));
    socket.once('secureConnect', () => done({ ok: true }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const verification = tcpUp && (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /CERT|SIGNATURE|ISSUER|SELF_SIGNED|VERIFY/.test(err.code ?? ''));
      const what = `${err.message}${err.code ? ` (${err.code})` : ''}`;
      if (!verification) done({ ok: false, unverifiable: false, reason: what });
      else if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
        done({ ok: false, unverifiable: true, reason: `${what}; point server: at a name or IP the certificate lists, or set tls-server-name in the kubeconfig` });
      } else {
        done({ ok: false, unverifiable: true, reason: `${what}; give the cluster's CA with --ca FILE or certificate-authority-data in the kubeconfig` });
      }
    });
  });
}

/** Who the API server says these credentials are, and whether they can do everything (cluster-admin). */
export interface Identity {
  /** False: no answer (refused, timed out, unverifiable); `problem` says why. */
  reachable: boolean;
  /** HTTP status of the access review, 0 when there was none. */
  status: number;
  /** From a SelfSubjectReview (absent when the server does not offer one). */
  user?: string;
  groups?: string[];
  /** The credentials may do every verb on every resource, or are in system:masters. */
  admin: boolean;
  /** Why `admin` is true: a certificate in O=system:masters, or `can-i '*' '*'` answering yes. */
  adminWhy?: string;
  problem?: string;
}

/**
 * Asks the API server who the credentials are: a SelfSubjectReview (user, groups) and a
 * SelfSubjectAccessReview for verb, group and resource '*' (what `kubectl auth can-i '*' '*'` asks).
 * A client certificate with O=system:masters counts as admin before any request: that group bypasses
 * authorization, so no review could say otherwise. Never throws; `timeoutMs` bounds each request.
 */
export async function identify(creds: Credentials, timeoutMs = 5_000): Promise<Identity> {
  let adminWhy: string | undefined;
  if (creds.tls.cert) {
    try {
      const subject = new crypto.X509Certificate(creds.tls.cert).subject;
      if (/(?:^|\n)O=system:masters(?:\n|$)/.test(subject)) adminWhy = 'its client certificate is in O=system:masters';
    } catch {
      // loadCredentials checked the certificate already.
    }
  }
  const ssar = await apiPost(creds, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { verb: '*', group: '*', resource: '*' } },
  }, timeoutMs);
  if (ssar.error !== undefined) return { reachable: false, status: 0, admin: adminWhy !== undefined, adminWhy, problem: ssar.error };
  if (ssar.status === 401) {
    return {
      reachable: true, status: 401, admin: adminWhy !== undefined, adminWhy,
      problem: 'the API server does not accept these credentials (401 Unauthorized): the token is wrong or expired, or the client certificate is not signed by the cluster\'s CA',
    };
  }
  const allowed = ssar.status === 201 && (ssar.body as { status?: { allowed?: boolean } })?.status?.allowed === true;
  if (allowed) adminWhy ??= "the API server allows it every verb on every resource (can-i '*' '*')";
  const ssr = await apiPost(creds, '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview',
  }, timeoutMs);
  const info = (ssr.body as { status?: { userInfo?: { username?: string; groups?: string[] } } })?.status?.userInfo;
  if (info?.groups?.includes('system:masters')) adminWhy ??= 'it is in the group system:masters';
  return { reachable: true, status: ssar.status, user: info?.username, groups: info?.groups, admin: adminWhy !== undefined, adminWhy };
}

/**
 * `kubectl auth can-i VERB RESOURCE` for these credentials (a SelfSubjectAccessReview): true, false, or
 * undefined when there was no answer.
 */
export async function canI(creds: Credentials, verb: string, group: string, resource: string, timeoutMs = 5_000): Promise<boolean | undefined> {
  const r = await apiPost(creds, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { verb, group, resource } },
  }, timeoutMs);
  if (r.status !== 201) return undefined;
  return (r.body as { status?: { allowed?: boolean } })?.status?.allowed === true;
}

/** One JSON POST with the node's own TLS settings and token. */
function apiPost(creds: Credentials, urlPath: string, body: unknown, timeoutMs: number): Promise<{ status: number; body?: unknown; error?: string }> {
  const bearer = creds.token ?? creds.bootstrapToken;
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = https.request({
      host: creds.apiHost,
      port: creds.apiPort,
      path: urlPath,
      method: 'POST',
      ca: creds.tls.ca,
      cert: creds.tls.cert,
      key: creds.tls.key,
      servername: net.isIP(creds.serverName) ? undefined : creds.serverName,
      rejectUnauthorized: creds.tls.insecure !== true,
      checkServerIdentity: (_h, cert) => tls.checkServerIdentity(creds.serverName, cert),
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(data),
        accept: 'application/json',
        ...(bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {}),
      },
      timeout: timeoutMs,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', (err) => resolve({ status: 0, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, error: `${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}` }));
    req.end(data);
  });
}

function oneLine(s: string): string {
  return s.split('\n')[0].trim();
}
