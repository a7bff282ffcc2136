// host-sim/src/credentials.ts
// Credentials the Kubernetes way: a kubeconfig read with @kubernetes/client-node (--kubeconfig, then
// $KUBECONFIG, then ~/.kube/config; --context), with --token/--token-file/--ca overrides. The server URL
// becomes the core's apiHost/apiPort/serverName; the CA and client certificate stay in the host's TLS
// settings and the bearer token goes to the core. Nothing here logs a token or a key.
import crypto from 'node:crypto';
import fs from 'node:fs';
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
  /** TLS trust and client identity (kept by the host). */
  tls: TlsSettings;
  /** Where these came from, for logs: `<file> context <name> user <name>`. */
  source: string;
  /** `token` or `client-certificate`. */
  auth: 'token' | 'client-certificate';
}

export { CredentialsError };

export interface CredentialOptions {
  /** A kubeconfig file; default $KUBECONFIG, then ~/.kube/config. */
  kubeconfig?: string;
  /** A context other than current-context. */
  context?: string;
  /** Overrides: a bearer token, a file holding one, a CA bundle file. */
  token?: string;
  tokenFile?: string;
  ca?: string;
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
      const how = explicit ? '--kubeconfig' : env.KUBECONFIG ? '$KUBECONFIG' : 'default kubeconfig';
      throw new CredentialsError(`${how} ${f} does not exist`);
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
      done({ ok: false, unverifiable: verification, reason: `${err.message}${err.code ? ` (${err.code})` : ''}` });
    });
  });
}

function oneLine(s: string): string {
  return s.split('\n')[0].trim();
}
