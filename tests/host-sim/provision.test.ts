// tests/host-sim/provision.test.ts
// `picokubelet-sim nvs-csv` writes node identities only: an admin (system:masters) certificate, the local
// control plane's admin kubeconfig, another node's certificate and an unvouched token are refused with
// exit 2 and no file written; a loopback server address is warned about in one line; --api-host and
// --server-name reach the CSV; and a rack (--count/--prefix --dir) gets one certificate per board, minted
// by the real local control plane and verified against its CA. The cluster cases FAIL without a cluster.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { isLoopback } from '../../host-sim/src/provision.js';
import { repoRoot } from '../../host-sim/src/runtime.js';
import { CLUSTER_DIR, loadCluster } from './support/cluster.js';
import { testPki, tmpDir } from './support/harness.js';
import { writeKubeconfig } from './support/pki.js';

const BIN = path.join(repoRoot(), 'host-sim', 'bin', 'picokubelet-sim.js');

function sim(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A self-signed client certificate with the given subject (the check is offline: the issuer does not matter). */
function certWithSubject(dir: string, subject: string): { cert: string; key: string } {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem',
    '-days', '1', '-subj', subject,
  ], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  return { cert: fs.readFileSync(path.join(dir, 'c.pem'), 'utf8'), key: fs.readFileSync(path.join(dir, 'k.pem'), 'utf8') };
}

function csvValue(text: string, key: string): string | undefined {
  return new RegExp(`^${key},(?:data|file),[a-z0-9]+,(.*)$`, 'm').exec(text)?.[1];
}

describe('nvs-csv refuses what is not a node identity (exit 2, nothing written)', () => {
  const pki = testPki();

  it('an admin certificate (O=system:masters), also with --allow-token', () => {
    const dir = tmpDir('prov-admin');
    const admin = certWithSubject(dir, '/O=system:masters/CN=kubernetes-admin');
    const kc = writeKubeconfig(path.join(dir, 'admin.kubeconfig'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, cert: admin.cert, key: admin.key });
    for (const extra of [[], ['--allow-token']]) {
      const out = path.join(dir, 'out');
      const r = sim(['nvs-csv', '--name', 'board-1', '--kubeconfig', kc, '--out-dir', out, ...extra]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^picokubelet-sim: .*cluster admin credential \(client certificate CN=kubernetes-admin, O=system:masters; system:masters bypasses all authorization\)/);
      assert.match(r.stderr, /system:node:<name>.*kubeconfig-for-node NAME.*bootstrap-token/);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.equal(fs.existsSync(out), false, 'nothing written');
    }
  });

  it('a node certificate that is also in system:masters', () => {
    const dir = tmpDir('prov-masters-node');
    const c = certWithSubject(dir, '/O=system:nodes/O=system:masters/CN=system:node:board-1');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, cert: c.cert, key: c.key });
    const r = sim(['nvs-csv', '--kubeconfig', kc, '--out-dir', path.join(dir, 'out')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cluster admin credential/);
    assert.equal(fs.existsSync(path.join(dir, 'out')), false);
  });

  it('a node identity in another group as well', () => {
    const dir = tmpDir('prov-extra-group');
    const c = certWithSubject(dir, '/O=system:nodes/O=ops/CN=system:node:board-1');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, cert: c.cert, key: c.key });
    const r = sim(['nvs-csv', '--kubeconfig', kc, '--out-dir', path.join(dir, 'out')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /O=system:nodes\+ops: a node identity is in group system:nodes and no other/);
    assert.equal(fs.existsSync(path.join(dir, 'out')), false);
  });

  it('another node\'s certificate', () => {
    const dir = tmpDir('prov-other');
    const c = pki.client('board-9');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, cert: c.cert, key: c.key });
    const r = sim(['nvs-csv', '--name', 'board-8', '--kubeconfig', kc, '--out-dir', path.join(dir, 'out')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /the client certificate is CN=system:node:board-9, O=system:nodes, not system:node:board-8 \(it is node board-9's, and one certificate is one node: use it for that board/);
    assert.equal(fs.existsSync(path.join(dir, 'out')), false);
  });

  it('a certificate that is no node identity at all', () => {
    const dir = tmpDir('prov-user');
    const c = certWithSubject(dir, '/O=developers/CN=alice');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, cert: c.cert, key: c.key });
    const r = sim(['nvs-csv', '--name', 'board-1', '--kubeconfig', kc, '--out-dir', path.join(dir, 'out')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /CN=alice, O=developers, not system:node:board-1 \(not a node identity\)/);
  });

  it('a bearer token without --allow-token, saying why; with it, the token is written', () => {
    const dir = tmpDir('prov-token');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, token: 'board-1-own-token' });
    const out = path.join(dir, 'out');
    const r = sim(['nvs-csv', '--name', 'board-1', '--kubeconfig', kc, '--out-dir', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bearer token, and whose a token is cannot be seen offline .*pass --allow-token/);
    assert.equal(fs.existsSync(out), false);
    const ok = sim(['nvs-csv', '--name', 'board-1', '--kubeconfig', kc, '--out-dir', out, '--allow-token']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(csvValue(fs.readFileSync(ok.stdout.trim(), 'utf8'), 'token'), 'board-1-own-token');
    assert.equal(fs.statSync(ok.stdout.trim()).mode & 0o777, 0o600, 'a CSV holding a token is private');
  });

  it('one kubeconfig for several boards', () => {
    const dir = tmpDir('prov-count');
    const c = pki.client('board-1');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, cert: c.cert, key: c.key });
    const r = sim(['nvs-csv', '--count', '3', '--prefix', 'board', '--kubeconfig', kc, '--out-dir', path.join(dir, 'out')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--count 3: one kubeconfig cannot be 3 nodes \(a certificate is one node's identity.*--dir CLUSTER_DIR/);
    assert.equal(fs.existsSync(path.join(dir, 'out')), false);
  });

  it('a rack from --kubeconfig-dir: one wrong board refuses the whole rack; a missing one is named', () => {
    const dir = tmpDir('prov-kdir');
    const kdir = path.join(dir, 'kubeconfigs');
    fs.mkdirSync(kdir);
    const write = (file: string, node: string): void => {
      const c = pki.client(node);
      writeKubeconfig(path.join(kdir, `${file}.kubeconfig`), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, cert: c.cert, key: c.key });
    };
    write('shelf-1', 'shelf-1');
    write('shelf-2', 'shelf-1'); // a copy of board 1's identity
    write('shelf-3', 'shelf-3');
    const out = path.join(dir, 'out');
    const bad = sim(['nvs-csv', '--count', '3', '--prefix', 'shelf', '--kubeconfig-dir', kdir, '--out-dir', out]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /shelf-2\.kubeconfig .*CN=system:node:shelf-1, O=system:nodes, not system:node:shelf-2/);
    assert.equal(fs.existsSync(out), false, 'no board written when one is refused');
    write('shelf-2', 'shelf-2');
    const four = sim(['nvs-csv', '--count', '4', '--prefix', 'shelf', '--kubeconfig-dir', kdir, '--out-dir', out]);
    assert.equal(four.code, 2, four.stderr);
    assert.match(four.stderr, /shelf-4\.kubeconfig does not exist: --kubeconfig-dir needs one kubeconfig per board, named <name>\.kubeconfig \(shelf-1 \.\. shelf-4\)/);
    assert.equal(fs.existsSync(out), false);
    const ok = sim(['nvs-csv', '--count', '3', '--prefix', 'shelf', '--kubeconfig-dir', kdir, '--out-dir', out]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stderr, '');
    assert.deepEqual(ok.stdout.trim().split('\n'), [1, 2, 3].map((i) => path.join(out, `shelf-${i}.nvs.csv`)));
  });

  it('bad flag combinations, unknown flags; --help only prints', () => {
    const dir = tmpDir('prov-flags');
    const out = path.join(dir, 'out');
    const cases: Array<[string[], RegExp]> = [
      [['--count', '2', '--out-dir', out], /--count N and --prefix P go together/],
      [['--count', '2', '--prefix', 'Rack', '--dir', dir, '--out-dir', out], /--prefix 'Rack' cannot start a node name/],
      [['--count', '2', '--prefix', 'r', '--name', 'x', '--out-dir', out], /either --name .* or --count\/--prefix/],
      [['--dir', dir, '--kubeconfig', 'k', '--name', 'x', '--out-dir', out], /--dir mints the identities itself/],
      [['--dir', dir, '--out-dir', out], /--dir needs --name NAME/],
      [['--kubeconfig-dir', dir, '--name', 'x', '--out-dir', out], /--kubeconfig-dir goes with --count N --prefix P/],
      [['--kubeconfig-dir', dir, '--dir', dir, '--count', '2', '--prefix', 'r', '--out-dir', out], /--kubeconfig-dir holds every board's credentials/],
      [['--dir', dir, '--name', 'x', '--out-dir', out], /--dir .* is not a local control plane's directory \(no pki\/ca.crt\)/],
      [['--api-host', 'https://10.0.0.1:6443', '--name', 'x', '--out-dir', out], /--api-host 'https:\/\/10.0.0.1:6443' is not a host name or IP address/],
      [['--alow-token', '--out-dir', out], /nvs-csv: unknown flag --alow-token \(did you mean --allow-token\?\); valid flags: .*--api-host .*--server-name .*--count .*--prefix .*--dir .*--allow-token/],
    ];
    for (const [args, error] of cases) {
      const r = sim(['nvs-csv', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, error, args.join(' '));
      assert.equal(fs.existsSync(out), false, args.join(' '));
    }
    const h = sim(['nvs-csv', '--help', '--name', 'x', '--out-dir', out, '--count', '3', '--prefix', 'rack', '--dir', dir]);
    assert.equal(h.code, 0);
    assert.equal(h.stderr, '');
    for (const f of ['--api-host HOST', '--server-name NAME', '--count N', '--prefix P', '--kubeconfig-dir KDIR', '--dir CLUSTER_DIR', '--allow-token']) assert.ok(h.stdout.includes(f), f);
    assert.equal(fs.existsSync(out), false, '--help writes nothing');
  });
});

describe('nvs-csv writes a node identity, with the board\'s view of the server', () => {
  const pki = testPki();

  it('--api-host and --server-name reach the CSV; no warning for a reachable address', () => {
    const dir = tmpDir('prov-ok');
    const c = pki.client('board-3');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://127.0.0.1:6443', caPEM: pki.ca.cert, cert: c.cert, key: c.key });
    const r = sim(['nvs-csv', '--name', 'board-3', '--kubeconfig', kc, '--api-host', '192.168.1.10', '--server-name', 'kubernetes', '--out-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const text = fs.readFileSync(r.stdout.trim(), 'utf8');
    assert.equal(csvValue(text, 'node_name'), 'board-3');
    assert.equal(csvValue(text, 'api_host'), '192.168.1.10');
    assert.equal(csvValue(text, 'api_port'), '6443');
    assert.equal(csvValue(text, 'server_name'), 'kubernetes');
    assert.equal(csvValue(text, 'token'), undefined);
    assert.equal(fs.readFileSync(csvValue(text, 'client_cert')!, 'utf8'), c.cert);
    assert.equal(fs.statSync(csvValue(text, 'client_key')!).mode & 0o777, 0o600);
  });

  it('--api-host alone: the board verifies the new host', () => {
    const dir = tmpDir('prov-host');
    const c = pki.client('board-4');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://127.0.0.1:6443', caPEM: pki.ca.cert, cert: c.cert, key: c.key });
    const r = sim(['nvs-csv', '--kubeconfig', kc, '--api-host', 'k3s.lan', '--out-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const text = fs.readFileSync(r.stdout.trim(), 'utf8');
    assert.equal(csvValue(text, 'api_host'), 'k3s.lan');
    assert.equal(csvValue(text, 'server_name'), 'k3s.lan');
  });

  it('a loopback server address: written, with a one-line warning naming --api-host', () => {
    for (const server of ['https://127.0.0.1:6443', 'https://127.3.2.1:6443', 'https://localhost:6443', 'https://[::1]:6443']) {
      const dir = tmpDir('prov-loop');
      const c = pki.client('board-5');
      const kc = writeKubeconfig(path.join(dir, 'k'), { server, caPEM: pki.ca.cert, cert: c.cert, key: c.key });
      const r = sim(['nvs-csv', '--kubeconfig', kc, '--out-dir', dir]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^picokubelet-sim: warning: the API server address .* is loopback: a board dialling it reaches itself, not the host; pass --api-host .*--server-name/);
      assert.ok(fs.existsSync(r.stdout.trim()));
    }
  });

  it('isLoopback', () => {
    for (const h of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST.', 'api.localhost']) assert.equal(isLoopback(h), true, h);
    for (const h of ['128.0.0.1', '10.0.0.1', '192.168.1.10', '::2', 'fe80::1', 'localhost.example', 'k3s.lan']) assert.equal(isLoopback(h), false, h);
  });
});

describe('nvs-csv --count 3 --prefix rack --dir: one identity per board from the local control plane', () => {
  let missing: Error | null = null;
  let caPEM = '';
  before(() => {
    try {
      caPEM = loadCluster().caPEM;
    } catch (err) {
      missing = err as Error;
    }
  });

  it('writes rack-1..3 with three certificates for system:node:rack-1..3, signed by the cluster CA', () => {
    if (missing) throw missing;
    const out = tmpDir('prov-rack');
    const r = sim(['nvs-csv', '--count', '3', '--prefix', 'rack', '--dir', CLUSTER_DIR, '--out-dir', out]);
    assert.equal(r.code, 0, r.stderr);
    const csvs = r.stdout.trim().split('\n');
    assert.deepEqual(csvs, [1, 2, 3].map((i) => path.join(out, `rack-${i}.nvs.csv`)));
    // The cluster's server is 127.0.0.1: warned once for the whole rack.
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr, /is loopback/);
    const ca = new crypto.X509Certificate(caPEM);
    const seen = new Set<string>();
    csvs.forEach((csv, i) => {
      const text = fs.readFileSync(csv, 'utf8');
      assert.equal(csvValue(text, 'node_name'), `rack-${i + 1}`);
      const certPem = fs.readFileSync(csvValue(text, 'client_cert')!, 'utf8');
      const cert = new crypto.X509Certificate(certPem);
      assert.equal(cert.subject.split('\n').find((l) => l.startsWith('CN=')), `CN=system:node:rack-${i + 1}`);
      assert.deepEqual(cert.subject.split('\n').filter((l) => l.startsWith('O=')), ['O=system:nodes']);
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'signed by the cluster CA');
      const keyFile = csvValue(text, 'client_key')!;
      assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
      assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(keyFile))), 'the key belongs to the certificate');
      seen.add(cert.fingerprint256);
    });
    assert.equal(seen.size, 3, 'three different certificates');
  });

  it('the cluster\'s admin kubeconfig is refused, nothing written', () => {
    if (missing) throw missing;
    const out = path.join(tmpDir('prov-local-admin'), 'out');
    const r = sim(['nvs-csv', '--name', 'rack-1', '--kubeconfig', path.join(CLUSTER_DIR, 'admin.kubeconfig'), '--out-dir', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /admin\.kubeconfig .*user admin authenticates with a bearer token, and whose a token is cannot be seen offline/);
    assert.equal(fs.existsSync(out), false);
  });
});

/** The firmware's NVS key table (firmware/components/kubelet_config/kubelet_config.c): key -> 'string' | 'u16'. */
function firmwareNvsKeys(): Map<string, string> {
  const src = fs.readFileSync(path.join(repoRoot(), 'firmware', 'components', 'kubelet_config', 'kubelet_config.c'), 'utf8');
  const table = /kubelet_config_keys\[\] = \{([\s\S]*?)\n\};/.exec(src);
  assert.ok(table, 'the key table is found');
  const keys = new Map<string, string>();
  for (const m of table[1].matchAll(/\{"([a-z_]+)", KUBELET_CONFIG_(STR|U16), (true|false)\}/g)) keys.set(m[1], m[2] === 'U16' ? 'u16' : 'string');
  return keys;
}

describe('nvs-csv --bootstrap-kubeconfig: the server, the CA and one bootstrap token for a whole rack, no certificate', () => {
  const pki = testPki();
  const TOKEN = 'abcdef.0123456789abcdef';

  it('--count 8 --prefix esp --api-host: eight CSVs, each its own node name, the bootstrap token, 0600, nothing else secret', () => {
    const dir = tmpDir('prov-boot');
    const kc = writeKubeconfig(path.join(dir, 'bootstrap.kubeconfig'), { server: 'https://127.0.0.1:6443', caPEM: pki.ca.cert, token: TOKEN, user: 'system:bootstrap:abcdef' });
    const out = path.join(dir, 'out');
    const r = sim(['nvs-csv', '--bootstrap-kubeconfig', kc, '--count', '8', '--prefix', 'esp', '--api-host', '192.168.1.10', '--out-dir', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'the LAN address is no loopback: no warning');
    const csvs = r.stdout.trim().split('\n');
    assert.deepEqual(csvs, Array.from({ length: 8 }, (_, i) => path.join(out, `esp-${i + 1}.nvs.csv`)));
    const fwKeys = firmwareNvsKeys();
    csvs.forEach((csv, i) => {
      const text = fs.readFileSync(csv, 'utf8');
      assert.equal(fs.statSync(csv).mode & 0o777, 0o600, 'a CSV holding a bootstrap token is private');
      assert.equal(csvValue(text, 'node_name'), `esp-${i + 1}`);
      assert.equal(csvValue(text, 'api_host'), '192.168.1.10');
      assert.equal(csvValue(text, 'api_port'), '6443');
      assert.equal(csvValue(text, 'server_name'), '192.168.1.10');
      assert.equal(csvValue(text, 'bootstrap_token'), TOKEN);
      assert.equal(fs.readFileSync(csvValue(text, 'ca_pem')!, 'utf8'), pki.ca.cert);
      for (const k of ['token', 'client_cert', 'client_key']) assert.equal(csvValue(text, k), undefined, `no ${k}`);
      // Every row is a key the firmware reads from NVS, with the type it reads it as (config_store.c).
      for (const line of text.trim().split('\n').slice(2)) {
        const [key, , encoding] = line.split(',');
        assert.equal(fwKeys.get(key), encoding, `${key} as ${encoding}`);
      }
    });
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith('key.pem')), [], 'no private key files: each board makes its own');
  });

  it('one board with --name and --server-name', () => {
    const dir = tmpDir('prov-boot1');
    const kc = writeKubeconfig(path.join(dir, 'b'), { server: 'https://k3s.lan:6443', caPEM: pki.ca.cert, token: TOKEN });
    const r = sim(['nvs-csv', '--bootstrap-kubeconfig', kc, '--name', 'esp-9', '--server-name', 'kubernetes', '--out-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const text = fs.readFileSync(r.stdout.trim(), 'utf8');
    assert.equal(csvValue(text, 'node_name'), 'esp-9');
    assert.equal(csvValue(text, 'api_host'), 'k3s.lan');
    assert.equal(csvValue(text, 'server_name'), 'kubernetes');
    assert.equal(csvValue(text, 'bootstrap_token'), TOKEN);
  });

  it('refuses a kubeconfig whose token is no bootstrap token, or an admin one, and writes nothing', () => {
    const dir = tmpDir('prov-boot-bad');
    const admin = certWithSubject(dir, '/O=system:masters/CN=kubernetes-admin');
    const cases = [
      writeKubeconfig(path.join(dir, 'tok'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, token: 'board-1-own-token' }),
      writeKubeconfig(path.join(dir, 'upper'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, token: 'ABCDEF.0123456789abcdef' }),
      writeKubeconfig(path.join(dir, 'admin'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, cert: admin.cert, key: admin.key }),
    ];
    for (const kc of cases) {
      const out = path.join(dir, 'out');
      const r = sim(['nvs-csv', '--bootstrap-kubeconfig', kc, '--count', '2', '--prefix', 'esp', '--out-dir', out]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^picokubelet-sim: --bootstrap-kubeconfig .*: its user has no bootstrap token \(<id>\.<secret>, \[a-z0-9\]\{6\}\.\[a-z0-9\]\{16\}\)/);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(!r.stderr.includes('board-1-own-token'), 'the token is not echoed');
      assert.equal(fs.existsSync(out), false, 'nothing written');
    }
  });

  it('refuses a bootstrap kubeconfig without a CA (the board would hand the token to any server)', () => {
    const dir = tmpDir('prov-boot-noca');
    const kc = writeKubeconfig(path.join(dir, 'b'), { server: 'https://192.168.1.10:6443', token: TOKEN, insecure: true });
    const r = sim(['nvs-csv', '--bootstrap-kubeconfig', kc, '--name', 'esp-1', '--out-dir', path.join(dir, 'out')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /has no CA .*could not verify the API server it gives the bootstrap token to/);
    assert.equal(fs.existsSync(path.join(dir, 'out')), false);
  });

  it('a bootstrap token given as --kubeconfig is refused, also with --allow-token, naming --bootstrap-kubeconfig', () => {
    const dir = tmpDir('prov-boot-as-kc');
    const kc = writeKubeconfig(path.join(dir, 'b'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, token: TOKEN });
    for (const extra of [[], ['--allow-token']]) {
      const r = sim(['nvs-csv', '--kubeconfig', kc, '--name', 'esp-1', '--out-dir', path.join(dir, 'out'), ...extra]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /its token is a bootstrap token, which may only ask for a certificate, not run a node: give that kubeconfig with --bootstrap-kubeconfig FILE/);
      assert.equal(fs.existsSync(path.join(dir, 'out')), false);
    }
  });

  it('usage errors: with --kubeconfig/--dir/--kubeconfig-dir, or without a node name', () => {
    const dir = tmpDir('prov-boot-usage');
    const kc = writeKubeconfig(path.join(dir, 'b'), { server: 'https://192.168.1.10:6443', caPEM: pki.ca.cert, token: TOKEN });
    const out = path.join(dir, 'out');
    for (const [extra, re] of [
      [['--kubeconfig', kc, '--name', 'esp-1'], /--bootstrap-kubeconfig gives the boards a bootstrap token instead of an identity: give it without --kubeconfig/],
      [['--dir', dir, '--count', '2', '--prefix', 'esp'], /give it without .*--dir/],
      [['--kubeconfig-dir', dir, '--count', '2', '--prefix', 'esp'], /give it without .*--kubeconfig-dir/],
      [[], /needs --name NAME \(or --count N --prefix P\): the token names no node/],
    ] as Array<[string[], RegExp]>) {
      const r = sim(['nvs-csv', '--bootstrap-kubeconfig', kc, '--out-dir', out, ...extra]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(fs.existsSync(out), false);
    }
  });

  it('--help names --bootstrap-kubeconfig', () => {
    const h = sim(['nvs-csv', '--help']);
    assert.equal(h.code, 0);
    assert.ok(h.stdout.includes('--bootstrap-kubeconfig FILE'));
  });
});
