// host-sim/src/provision.ts
// What may be written into a board's configuration. A board keeps its credentials in flash for years and
// anyone holding the board can read them, so provisioning writes a node identity (a client certificate for
// system:node:<name>, group system:nodes: the Node authorizer confines it to its own Node, Lease and pods)
// and nothing more, or a bootstrap token (TLS bootstrap: the board makes its own key and asks the cluster
// for that identity; a bootstrap token may only create CSRs, so one can serve a whole rack). An admin or
// system:masters credential is refused: system:masters bypasses authorization entirely, and a copy in a
// board's NVS is a copy of the cluster. A bearer token is refused unless the user vouches for it
// (--allow-token): nothing offline says whose a token is.
// Also: the server address a board dials (a kubeconfig made on the server says 127.0.0.1, the board's own
// loopback), and minting one identity per board from the local control plane (tools/cluster.mjs).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BOOTSTRAP_TOKEN, type Credentials } from './credentials.js';
import { CredentialsError } from './errors.js';
import { repoRoot } from './runtime.js';

/** Where a node identity comes from, for the messages that refuse something else. */
export const NODE_IDENTITY_HINT =
  'give the board a node identity: a client certificate for system:node:<name> in group system:nodes ' +
  '(local control plane: `npm run cluster -- kubeconfig-for-node NAME`, or nvs-csv --dir CLUSTER_DIR to mint it; ' +
  'k3s: docs/k3s.md "Way 1"), or a bootstrap token (`npm run cluster -- bootstrap-token`, k3s: `k3s token create`) ' +
  'with nvs-csv --bootstrap-kubeconfig FILE: the board then makes its own key and certificate'

/** The subject of a certificate (the leaf, first in the PEM) as its attribute lists. */
export function certificateSubject(pem: Buffer | string): { cn: string[]; o: string[] } {
  const block = (Buffer.isBuffer(pem) ? pem.toString('utf8') : pem).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/);
  if (!block) throw new CredentialsError('the client certificate holds no PEM certificate');
  const subject = new crypto.X509Certificate(block[0]).subject;
  const cn: string[] = [];
  const o: string[] = [];
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    const [k, v] = [line.slice(0, eq), line.slice(eq + 1)];
    if (k === 'CN') cn.push(v);
    if (k === 'O') o.push(v);
  }
  return { cn, o };
}

/**
 * Throws CredentialsError (one line: what is wrong, what to use instead) unless `creds` is a node identity
 * for `name`: a client certificate with CN=system:node:<name> and O=system:nodes only, a bootstrap token
 * (from a bootstrap kubeconfig: `auth` 'bootstrap-token', with the CA the board verifies the server
 * with, and nothing else), or a bearer token the user allowed. Decided offline, from the certificate
 * alone: provisioning needs no cluster.
 */
export function checkNodeIdentity(creds: Credentials, name: string, allowToken: boolean): void {
  if (creds.auth === 'bootstrap-token') {
    if (creds.bootstrapToken === undefined || !BOOTSTRAP_TOKEN.test(creds.bootstrapToken)) {
      throw new CredentialsError(`${creds.source}: not a bootstrap token (<id>.<secret>, [a-z0-9]{6}.[a-z0-9]{16})`);
    }
    if (creds.token !== undefined || creds.tls.cert !== undefined || creds.tls.key !== undefined) {
      throw new CredentialsError(`${creds.source}: a bootstrap token goes into a board alone (no bearer token, no client certificate)`);
    }
    // The board sends the bootstrap token only to a server it has verified: an unverified one could take it.
    if (creds.tls.ca === undefined) {
      throw new CredentialsError(`${creds.source} has no CA (certificate-authority-data, or --ca FILE): the board could not verify ` +
        'the API server it gives the bootstrap token to');
    }
    return;
  }
  if (creds.token !== undefined) {
    if (BOOTSTRAP_TOKEN.test(creds.token)) {
      throw new CredentialsError(`${creds.source}: its token is a bootstrap token, which may only ask for a certificate, not run ` +
        'a node: give that kubeconfig with --bootstrap-kubeconfig FILE (written as bootstrap_token; the board makes its own key ' +
        'and asks for a system:node:<name> certificate)');
    }
    if (allowToken) return;
    throw new CredentialsError(`${creds.source} authenticates with a bearer token, and whose a token is cannot be seen offline ` +
      '(it may be an admin\'s or a service account\'s with wide rights): refusing to write it into a board. ' +
      'If you know it is that node\'s own token, pass --allow-token; better, ' + NODE_IDENTITY_HINT);
  }
  if (!creds.tls.cert) throw new CredentialsError(`${creds.source} has no client certificate: ${NODE_IDENTITY_HINT}`);
  const { cn, o } = certificateSubject(creds.tls.cert);
  const who = `CN=${cn.join('+') || '(none)'}, O=${o.join('+') || '(none)'}`;
  if (o.includes('system:masters')) {
    throw new CredentialsError(`${creds.source} is a cluster admin credential (client certificate ${who}; system:masters bypasses all ` +
      `authorization): refusing to write it into a board, where anyone holding the board could read it. Instead, ${NODE_IDENTITY_HINT}`);
  }
  const want = `system:node:${name}`;
  if (cn.length !== 1 || cn[0] !== want) {
    const other = cn.length === 1 && cn[0].startsWith('system:node:');
    throw new CredentialsError(`${creds.source}: the client certificate is ${who}, not ${want}` +
      (other ? ` (it is node ${cn[0].slice('system:node:'.length)}'s, and one certificate is one node: use it for that board, or mint one for ${name})` : ' (not a node identity)') +
      `: refusing to write it into board ${name}. Instead, ${NODE_IDENTITY_HINT}`);
  }
  if (o.length !== 1 || o[0] !== 'system:nodes') {
    throw new CredentialsError(`${creds.source}: the client certificate is ${who}: a node identity is in group system:nodes and no other ` +
      `(other groups may carry rights beyond the node's own objects); ${NODE_IDENTITY_HINT}`);
  }
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x), localhost and *.localhost: the dialling machine itself. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    const bl = new net.BlockList();
    bl.addAddress('::1', 'ipv6');
    bl.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
    return bl.check(h, 'ipv6');
  }
  return false;
}

/** The server a board dials and the name it verifies, after --api-host / --server-name. */
export interface ServerOverrides {
  apiHost?: string;
  serverName?: string;
}

/**
 * Applies the overrides. A new host without --server-name verifies the new host, unless the kubeconfig
 * named a tls-server-name (then that name is still what the certificate lists).
 */
export function withServer(creds: Credentials, o: ServerOverrides): Credentials {
  const explicitName = creds.serverName !== creds.apiHost;
  const apiHost = o.apiHost ?? creds.apiHost;
  const serverName = o.serverName ?? (explicitName ? creds.serverName : apiHost);
  return { ...creds, apiHost, serverName };
}

/** A one-line warning when a board would dial its own loopback, or undefined. */
export function loopbackWarning(creds: Credentials): string | undefined {
  if (!isLoopback(creds.apiHost)) return undefined;
  return `warning: the API server address ${creds.apiHost} is loopback: a board dialling it reaches itself, not the host; ` +
    'pass --api-host with the address the board can reach (e.g. the server\'s LAN IP) and, if the server certificate does not ' +
    'list that address, --server-name with a name it does list (docs/k3s.md, "What a node needs")';
}

/**
 * Mints a client-certificate kubeconfig for each of `names` (system:node:<name>, O=system:nodes) with the
 * local control plane in `clusterDir` (`tools/cluster.mjs kubeconfig-for-node`, which signs with that
 * cluster's CA). Returns name -> kubeconfig path in a private temporary directory; `cleanup()` removes it
 * (the kubeconfigs hold private keys that only the board's files should keep).
 */
export function mintNodeIdentities(clusterDir: string, names: string[]): { files: Map<string, string>; cleanup: () => void } {
  if (!fs.existsSync(path.join(clusterDir, 'pki', 'ca.crt'))) {
    throw new CredentialsError(`--dir ${clusterDir} is not a local control plane's directory (no pki/ca.crt): start one with ` +
      '`npm run cluster -- up --dir DIR`, or give --kubeconfig FILE for one node');
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-provision-'));
  const cleanup = (): void => fs.rmSync(tmp, { recursive: true, force: true });
  const files = new Map<string, string>();
  try {
    for (const name of names) {
      const file = path.join(tmp, `${name}.kubeconfig`);
      const r = spawnSync(process.execPath, [path.join(repoRoot(), 'tools', 'cluster.mjs'), 'kubeconfig-for-node', name, '--dir', clusterDir, '--out', file], {
        encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10 * 60_000,
      });
      if (r.status !== 0 || !fs.existsSync(file)) {
        const why = (r.stderr || r.stdout || r.error?.message || '').trim().split('\n').filter(Boolean).pop() ?? `exit ${r.status}`;
        throw new CredentialsError(`minting a node identity for ${name} with the control plane in ${clusterDir} failed: ${why}`);
      }
      files.set(name, file);
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  return { files, cleanup };
}
