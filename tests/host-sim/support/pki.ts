// tests/host-sim/support/pki.ts
// Throw-away PKI for the host-sim tests, made with the openssl CLI: a cluster CA, an API server
// certificate for 127.0.0.1 (IP SAN) and localhost, one without the IP SAN, a second unrelated CA with
// its own server certificate, and node client certificates (CN=system:node:<name>, O=system:nodes).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: KeyPair;
  /** Signed by `ca`; SANs IP:127.0.0.1 and DNS:localhost. */
  server: KeyPair;
  /** Signed by `ca`; SAN DNS:localhost only (no IP SAN). */
  serverNoIp: KeyPair;
  /** An unrelated CA and a server certificate it signed (SANs as `server`). */
  otherCa: KeyPair;
  otherServer: KeyPair;
  /** A node client certificate signed by `ca`. */
  client(name: string): KeyPair;
  /** A client certificate for user `cn` signed by `otherCa` (a client CA other than the API server's). */
  otherClient(cn: string): KeyPair;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): KeyPair {
  openssl(dir, [
    'req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return read(dir, name);
}

function issue(dir: string, ca: string, name: string, subject: string, ext: string): KeyPair {
  openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`,
    '-days', '2', '-extfile', `${name}.ext`,
  ]);
  return read(dir, name);
}

function read(dir: string, name: string): KeyPair {
  return { cert: fs.readFileSync(path.join(dir, `${name}.crt`), 'utf8'), key: fs.readFileSync(path.join(dir, `${name}.key`), 'utf8') };
}

/** Makes a fresh PKI in a temporary directory. */
export function makePki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-sim-pki-'));
  const serverExt = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';
  const ca = makeCa(dir, 'ca');
  const server = issue(dir, 'ca', 'server', '/CN=fake-apiserver', serverExt);
  const serverNoIp = issue(dir, 'ca', 'server-noip', '/CN=127.0.0.1', 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  const otherCa = makeCa(dir, 'other-ca');
  const otherServer = issue(dir, 'other-ca', 'other-server', '/CN=fake-apiserver', serverExt);
  const clients = new Map<string, KeyPair>();
  return {
    dir, ca, server, serverNoIp, otherCa, otherServer,
    client(name: string): KeyPair {
      let kp = clients.get(name);
      if (!kp) {
        kp = issue(dir, 'ca', `client-${name}`, `/O=system:nodes/CN=system:node:${name}`, 'extendedKeyUsage=clientAuth\n');
        clients.set(name, kp);
      }
      return kp;
    },
    otherClient(cn: string): KeyPair {
      let kp = clients.get(`other:${cn}`);
      if (!kp) {
        kp = issue(dir, 'other-ca', `other-client-${cn.replace(/[^A-Za-z0-9.-]/g, '_')}`, `/CN=${cn}`, 'extendedKeyUsage=clientAuth\n');
        clients.set(`other:${cn}`, kp);
      }
      return kp;
    },
  };
}

/** A kubeconfig (YAML) with inline data, written to `file`. */
export function writeKubeconfig(
  file: string,
  o: { server: string; caPEM?: string; token?: string; cert?: string; key?: string; insecure?: boolean; user?: string },
): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: test',
    '  cluster:',
    `    server: ${JSON.stringify(o.server)}`,
  ];
  if (o.caPEM) lines.push(`    certificate-authority-data: ${b64(o.caPEM)}`);
  if (o.insecure) lines.push('    insecure-skip-tls-verify: true');
  lines.push('users:', `- name: ${JSON.stringify(o.user ?? 'test-user')}`, '  user:');
  if (o.token) lines.push(`    token: ${JSON.stringify(o.token)}`);
  if (o.cert) lines.push(`    client-certificate-data: ${b64(o.cert)}`);
  if (o.key) lines.push(`    client-key-data: ${b64(o.key)}`);
  if (!o.token && !o.cert) lines.push('    {}');
  lines.push(
    'contexts:',
    '- name: test',
    '  context:',
    '    cluster: test',
    `    user: ${JSON.stringify(o.user ?? 'test-user')}`,
    'current-context: test',
    '',
  );
  fs.writeFileSync(file, lines.join('\n'), { mode: 0o600 });
  return file;
}
