// tests/host-sim/cli.test.ts
// The picokubelet-sim executable: --help and --version, one-line errors and exit 2 for bad flags and bad
// kubeconfigs, nvs-csv output, and a `run` driven end to end through its control socket, a scenario file
// and Ctrl-C against the fake API server.
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sendControl } from '../../host-sim/src/control.js';
import { repoRoot } from '../../host-sim/src/runtime.js';
import { FakeApiServer as FakeApi, type FakeTlsServer, listenTls } from '../support/fake-apiserver.js';
import { testPki, tmpDir, until } from './support/harness.js';
import { writeKubeconfig } from './support/pki.js';

const BIN = path.join(repoRoot(), 'host-sim', 'bin', 'picokubelet-sim.js');

function sim(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('picokubelet-sim --help and --version', () => {
  it('--help lists every command and the exit codes', () => {
    const r = sim(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['run', 'rack', 'nvs-csv', 'check', 'push', 'brain-key', 'ctl', '--log-level', '--log-format', '--version', 'Exit codes']) assert.ok(r.stdout.includes(c), c);
  });

  const flags: Record<string, string[]> = {
    run: ['--name', '--node-ip', '--labels', '--heap-scenario', '--link', '--scenario', '--at', '--kubeconfig', '--context', '--token', '--ca', '--cleanup', '--control-socket', '--core-config', '--log-level', '--log-format', '--kubelet-port', '--client-ca-file', '--brain-public-key', '--state-dir', '--registry-ca'],
    rack: ['--count', '--prefix', '--kubeconfig-dir', '--kubeconfig', '--ramp', '--first-ip', '--cleanup', '--control-socket', '--kubelet-port', '--client-ca-file', '--brain-public-key', '--state-dir', '--registry-ca'],
    'nvs-csv': ['--name', '--kubeconfig', '--wifi-ssid', '--wifi-psk', '--out-dir', '--api-host', '--server-name', '--count', '--prefix', '--dir', '--allow-token'],
    check: ['--kubeconfig', '--context', '--token', '--ca', '--timeout'],
    ctl: ['--control-socket', '--timeout'],
    push: ['--wasm', '--key', '--oras'],
    'brain-key': ['--out'],
  };
  for (const [cmd, expected] of Object.entries(flags)) {
    it(`${cmd} --help lists its flags`, () => {
      const r = sim([cmd, '--help']);
      assert.equal(r.code, 0);
      assert.ok(r.stdout.startsWith(`usage: picokubelet-sim ${cmd}`));
      for (const f of expected) assert.ok(r.stdout.includes(`${f} `) || r.stdout.includes(`${f}\n`), `${cmd} --help lacks ${f}`);
      if (cmd !== 'nvs-csv' && cmd !== 'check' && cmd !== 'push' && cmd !== 'brain-key') assert.ok(r.stdout.includes('reset-connection'), 'control commands listed');
    });
  }

  it('--version names the package version and the ABI', () => {
    const r = sim(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^picokubelet-sim \d+\.\d+\.\d+ \(core ABI 2\)\n$/);
  });

  it('no command prints the help and exits 2', () => {
    const r = sim([]);
    assert.equal(r.code, 2);
    assert.ok(r.stdout.includes('usage: picokubelet-sim [global flags] COMMAND'));
  });
});

describe('picokubelet-sim errors: one line, exit 2', () => {
  const dir = tmpDir('cli');
  const pki = testPki();
  const garbage = path.join(dir, 'garbage.kubeconfig');
  fs.writeFileSync(garbage, 'this: [is: not: a kubeconfig');
  const cases: Array<{ desc: string; args: string[]; env?: NodeJS.ProcessEnv; error: RegExp }> = [
    { desc: 'unknown flag: the valid flags named', args: ['run', '--bogus'], error: /^picokubelet-sim: run: unknown flag --bogus; valid flags: --name --node-ip .*--kubeconfig .*--log-level --log-format$/ },
    { desc: 'misspelt flag: did you mean', args: ['run', '--nmae', 'x'], error: /run: unknown flag --nmae \(did you mean --name\?\); valid flags: --name / },
    { desc: 'misspelt ctl flag', args: ['ctl', '--control-sokcet', '/x', 'stats'], error: /ctl: unknown flag --control-sokcet \(did you mean --control-socket\?\)/ },
    { desc: 'unknown short flag', args: ['nvs-csv', '-x'], error: /nvs-csv: unknown flag -x; valid flags: .*--out-dir/ },
    { desc: 'a string flag without its value', args: ['run', '--name'], error: /run: Option '--name <value>' argument missing \(see run --help\)$/ },
    { desc: 'unknown command', args: ['frobnicate'], error: /unknown command 'frobnicate'; commands: run, rack, nvs-csv, check, push, brain-key, ctl, help/ },
    { desc: 'misspelt command', args: ['rnu'], error: /unknown command 'rnu' \(did you mean 'run'\?\)/ },
    { desc: 'help for a misspelt command', args: ['help', 'chekc'], error: /unknown command 'chekc' \(did you mean 'check'\?\); commands: run, rack, nvs-csv, check, push, brain-key, ctl$/ },
    { desc: 'a global flag before the command is read', args: ['--log-level', 'loud', 'run'], error: /--log-level must be one of/ },
    { desc: 'global flags before the command reach it', args: ['--log-format=json', '--log-level', 'debug', 'run', '--name', 'Bad'], error: /--name 'Bad' is not a valid node name/ },
    { desc: 'a command flag before the command', args: ['--name', 'x', 'run'], error: /unknown flag --name before the command; flags allowed there: --help, --version, --log-level, --log-format/ },
    { desc: 'a global flag and no command', args: ['--log-level', 'debug'], error: /a command must follow/ },
    { desc: 'bad log level', args: ['run', '--log-level', 'loud'], error: /--log-level must be one of/ },
    { desc: 'bad log format', args: ['run', '--log-format', 'xml'], error: /--log-format must be one of/ },
    { desc: 'rack without --count', args: ['rack'], error: /rack needs --count/ },
    { desc: 'rack with a bad --count', args: ['rack', '--count', 'many'], error: /--count must be an integer/ },
    { desc: 'bad heap scenario', args: ['run', '--heap-scenario', 'leak:rate=abc'], error: /--heap-scenario: heap parameter rate/ },
    { desc: 'bad link', args: ['run', '--link', 'carrier-pigeon'], error: /--link: unknown link kind/ },
    { desc: 'bad --at', args: ['run', '--at', 'soon:link down'], error: /--at soon:link down/ },
    { desc: 'unschedulable --at', args: ['run', '--at', '5:stats'], error: /cannot be scheduled/ },
    { desc: 'bad labels', args: ['run', '--labels', 'novalue'], error: /expected key=value/ },
    { desc: 'bad name: the allowed form and an example', args: ['run', '--name', 'Not_A_Name'], error: /--name 'Not_A_Name' is not a valid node name: use a lowercase RFC 1123 subdomain \(a-z, 0-9, '-' and '\.', .*\), e\.g\. --name not-a-name$/ },
    { desc: 'a name too long', args: ['run', '--name', 'a'.repeat(254)], error: /at most 253 characters/ },
    { desc: 'bad --core-config', args: ['run', '--core-config', '{nope'], error: /--core-config is not valid JSON/ },
    { desc: 'positional argument', args: ['run', 'extra'], error: /unexpected argument 'extra'/ },
    { desc: 'missing kubeconfig', args: ['run', '--name', 'x', '--kubeconfig', path.join(dir, 'missing')], error: /does not exist/ },
    { desc: 'garbage kubeconfig', args: ['run', '--name', 'x', '--kubeconfig', garbage], error: /cannot read kubeconfig/ },
    { desc: '$KUBECONFIG missing', args: ['run', '--name', 'x'], env: { KUBECONFIG: path.join(dir, 'nope') }, error: /\$KUBECONFIG/ },
    {
      desc: 'no kubeconfig at all: --kubeconfig and how to mint one',
      args: ['run', '--name', 'x'],
      env: { KUBECONFIG: '', HOME: dir },
      error: /no --kubeconfig given, \$KUBECONFIG is unset, and the default kubeconfig .*\.kube\/config does not exist: pass --kubeconfig FILE \(.*`npm run cluster -- kubeconfig-for-node NAME`/,
    },
    {
      desc: 'kubeconfig without credentials',
      args: ['run', '--name', 'x', '--kubeconfig', writeKubeconfig(path.join(dir, 'anon'), { server: 'https://127.0.0.1:1', caPEM: pki.ca.cert })],
      error: /neither a bearer token nor a client certificate/,
    },
    { desc: '--client-ca-file missing', args: ['run', '--name', 'x', '--client-ca-file', path.join(dir, 'no-ca.crt')], error: /--client-ca-file \S+no-ca\.crt: cannot read it \(ENOENT\)$/ },
    { desc: '--client-ca-file without a certificate', args: ['rack', '--count', '1', '--client-ca-file', garbage], error: /--client-ca-file \S+garbage\.kubeconfig holds no PEM certificate$/ },
    { desc: '--registry-ca without a certificate', args: ['run', '--name', 'x', '--registry-ca', garbage], error: /--registry-ca \S+garbage\.kubeconfig holds no PEM certificate$/ },
    { desc: '--brain-public-key missing', args: ['run', '--name', 'x', '--brain-public-key', path.join(dir, 'no.pub')], error: /^picokubelet-sim: --brain-public-key \S+no\.pub: cannot read it \(ENOENT\)$/ },
    { desc: '--brain-public-key not a key', args: ['rack', '--count', '1', '--brain-public-key', garbage], error: /--brain-public-key \S+garbage\.kubeconfig: not an Ed25519 public key .*use the FILE\.pub that `picokubelet-sim brain-key` wrote$/ },
    { desc: 'scenario file missing', args: ['run', '--scenario', path.join(dir, 'none.json')], error: /cannot read scenario/ },
    { desc: 'nvs-csv without --out-dir', args: ['nvs-csv', '--name', 'x'], error: /--out-dir/ },
    { desc: 'ctl without a socket', args: ['ctl', 'stats'], error: /--control-socket/ },
    { desc: 'check with a bad kubeconfig', args: ['check', '--kubeconfig', garbage], error: /cannot read kubeconfig/ },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const r = sim(c.args, c.env);
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
      assert.match(lines[0], /^picokubelet-sim: /);
      assert.match(lines[0], c.error);
      assert.equal(r.stdout, '');
    });
  }
});

describe('picokubelet-sim errors at run time: one line, exit 1, what to do next', () => {
  const dir = tmpDir('cli-rt');
  it('ctl to a socket that does not exist', () => {
    const r = sim(['ctl', '--control-socket', path.join(dir, 'wrong.sock'), 'stats']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^picokubelet-sim: no control socket at \S+wrong\.sock \(is the node running\?\): start the node with `picokubelet-sim run --control-socket PATH` and pass the same PATH\n$/);
  });

  it('ctl to a stale socket file nobody listens on, and to a file that is not a socket', async () => {
    const stale = path.join(dir, 'stale.sock');
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(stale, resolve));
    // Closing a listener normally removes the file; copy the inode back so a dead socket file remains.
    fs.linkSync(stale, `${stale}.keep`);
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    fs.renameSync(`${stale}.keep`, stale);
    const r = sim(['ctl', '--control-socket', stale, 'stats']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^picokubelet-sim: nothing listens on \S+stale\.sock \(a stale socket file: the node is gone\)/);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1);
    const plain = path.join(dir, 'plain-file');
    fs.writeFileSync(plain, '');
    const p = sim(['ctl', '--control-socket', plain, 'stats']);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /^picokubelet-sim: \S+plain-file is not a socket/);
  });

  it('an unreachable API server is reported at once by check (exit 1) and by run (a warning as soon as it has started)', async () => {
    const port = await closedPort();
    const kc = writeKubeconfig(path.join(dir, 'unreachable'), { server: `https://127.0.0.1:${port}`, caPEM: testPki().ca.cert, token: 't' });
    const t0 = Date.now();
    const r = sim(['check', '--kubeconfig', kc]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^picokubelet-sim: API server https://127\\.0\\.0\\.1:${port} is not reachable: .*ECONNREFUSED.*; is the cluster running`));
    assert.ok(Date.now() - t0 < 5_000, 'check answers at once');
    const child = spawn(process.execPath, [BIN, 'run', '--name', 'unreach', '--kubeconfig', kc, '--led', 'off'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    try {
      await until(() => stderr.includes(`API server https://127.0.0.1:${port} not reachable yet`), 10_000, 'the unreachable warning');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** A 127.0.0.1 port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('picokubelet-sim check (a stub API server answering the two reviews)', () => {
  const pki = testPki();
  const dir = tmpDir('cli-check');
  // What the stub answers: `allowed` for SelfSubjectAccessReview '*' '*', the user for SelfSubjectReview.
  let allowed = false;
  let status = 201;
  const seen: Array<{ path: string; body: any; auth?: string }> = [];
  let server: https.Server;
  let url = '';
  before(async () => {
    server = https.createServer({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push({ path: req.url!, body: JSON.parse(body), auth: req.headers.authorization });
        const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
        const user = peer?.subject?.CN ?? 'token-user';
        const groups = [...[peer?.subject?.O ?? []].flat(), 'system:authenticated'];
        res.writeHead(status, { 'content-type': 'application/json' });
        if (req.url!.includes('selfsubjectaccessreviews')) res.end(JSON.stringify({ kind: 'SelfSubjectAccessReview', status: { allowed } }));
        else res.end(JSON.stringify({ kind: 'SelfSubjectReview', status: { userInfo: { username: user, groups } } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a node identity: reachable, who it is, its node name, not admin', async () => {
    allowed = false;
    status = 201;
    const c = pki.client('check-1');
    const kc = writeKubeconfig(path.join(dir, 'node'), { server: url, caPEM: pki.ca.cert, cert: c.cert, key: c.key });
    const r = await runAsync(['check', '--kubeconfig', kc]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `server: ${url} reachable, certificate verified\nidentity: system:node:check-1 (groups system:nodes, system:authenticated), by client-certificate\n` +
      'node name: check-1 (from the client certificate)\nadmin: no\n');
    assert.equal(r.stderr, '');
    const review = seen.find((x) => x.path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')!;
    assert.deepEqual(review.body.spec, { resourceAttributes: { verb: '*', group: '*', resource: '*' } });
  });

  it("a token the server allows '*' '*': admin, with a loud warning on stderr", async () => {
    allowed = true;
    status = 201;
    const kc = writeKubeconfig(path.join(dir, 'admin'), { server: url, caPEM: pki.ca.cert, token: 'check-admin-token' });
    const r = await runAsync(['check', '--kubeconfig', kc]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^admin: yes \(the API server allows it every verb on every resource \(can-i '\*' '\*'\)\)$/m);
    assert.match(r.stderr, /^picokubelet-sim: warning: these are ADMIN credentials: .*kubeconfig-for-node NAME/);
    assert.equal(seen.at(-1)!.auth, 'Bearer check-admin-token');
    assert.ok(!r.stdout.includes('check-admin-token') && !r.stderr.includes('check-admin-token'), 'the token is never printed');
  });

  it('a client certificate in O=system:masters is admin whatever the review says', async () => {
    allowed = false;
    status = 201;
    const sub = path.join(dir, 'masters');
    fs.mkdirSync(sub);
    const ossl = (args: string[]): void => void execFileSync('openssl', args, { cwd: sub, stdio: 'ignore' });
    ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'm.key', '-out', 'm.csr', '-subj', '/O=system:masters/CN=kubernetes-admin']);
    fs.writeFileSync(path.join(sub, 'm.ext'), 'extendedKeyUsage=clientAuth\n');
    ossl(['x509', '-req', '-in', 'm.csr', '-CA', path.join(pki.dir, 'ca.crt'), '-CAkey', path.join(pki.dir, 'ca.key'), '-CAcreateserial', '-out', 'm.crt', '-days', '2', '-extfile', 'm.ext']);
    const kc = writeKubeconfig(path.join(sub, 'kc'), {
      server: url, caPEM: pki.ca.cert, cert: fs.readFileSync(path.join(sub, 'm.crt'), 'utf8'), key: fs.readFileSync(path.join(sub, 'm.key'), 'utf8'),
    });
    const r = await runAsync(['check', '--kubeconfig', kc]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^admin: yes \(its client certificate is in O=system:masters\)$/m);
    assert.match(r.stderr, /ADMIN credentials/);
  });

  it('credentials the server refuses (401): exit 2 and what is wrong', async () => {
    status = 401;
    const kc = writeKubeconfig(path.join(dir, 'refused'), { server: url, caPEM: pki.ca.cert, token: 'stale' });
    const r = await runAsync(['check', '--kubeconfig', kc]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^picokubelet-sim: .* the API server does not accept these credentials \(401 Unauthorized\)/);
    assert.equal(r.stdout, '');
  });

  it('a server whose certificate the CA does not vouch for: exit 2, --ca named', async () => {
    const kc = writeKubeconfig(path.join(dir, 'wrong-ca'), { server: url, caPEM: pki.otherCa.cert, token: 't' });
    const r = await runAsync(['check', '--kubeconfig', kc]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^picokubelet-sim: the certificate of https:\/\/127\.0\.0\.1:\d+ cannot be verified .*--ca FILE or certificate-authority-data/);
  });
});

describe('picokubelet-sim nvs-csv', () => {
  const pki = testPki();
  it('token kubeconfig (--allow-token): header, namespace, keys, PEM files referenced by absolute path', () => {
    const dir = tmpDir('nvs');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://10.1.2.3:6443', caPEM: pki.ca.cert, token: 'nvs-token-1' });
    const r = sim(['nvs-csv', '--name', 'esp-1', '--kubeconfig', kc, '--wifi-ssid', 'lab, 2.4GHz', '--wifi-psk', 'pa"ss', '--out-dir', path.join(dir, 'out'), '--allow-token']);
    assert.equal(r.code, 0, r.stderr);
    const csvPath = r.stdout.trim();
    const lines = fs.readFileSync(csvPath, 'utf8').split('\n');
    assert.equal(lines[0], 'key,type,encoding,value');
    assert.equal(lines[1], 'kubelet,namespace,,');
    assert.equal(lines[lines.length - 1], '', 'ends with a newline');
    const body = lines.slice(2, -1);
    assert.ok(body.every((l) => l.length > 0 && !/ ,|, (?!2)/.test(l)), 'no blank lines, no spaces around commas');
    assert.ok(body.includes('node_name,data,string,esp-1'));
    assert.ok(body.includes('api_host,data,string,10.1.2.3'));
    assert.ok(body.includes('api_port,data,u16,6443'));
    assert.ok(body.includes('server_name,data,string,10.1.2.3'));
    assert.ok(body.includes('token,data,string,nvs-token-1'));
    assert.ok(body.includes('wifi_ssid,data,string,"lab, 2.4GHz"'));
    assert.ok(body.includes('wifi_psk,data,string,"pa""ss"'));
    const ca = body.find((l) => l.startsWith('ca_pem,file,string,'))!;
    const caFile = ca.split(',')[3];
    assert.ok(path.isAbsolute(caFile) && fs.readFileSync(caFile, 'utf8') === pki.ca.cert);
    assert.ok(!body.some((l) => l.startsWith('client_cert') || l.startsWith('client_key')));
    assert.ok(body.every((l) => l.split(',')[0].length <= 15));
  });

  it('client-certificate kubeconfig: no token, cert and key files, name from the certificate', () => {
    const dir = tmpDir('nvs2');
    const client = pki.client('esp-cert-7');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://127.0.0.1:6443', caPEM: pki.ca.cert, cert: client.cert, key: client.key });
    const r = sim(['nvs-csv', '--kubeconfig', kc, '--out-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const text = fs.readFileSync(r.stdout.trim(), 'utf8');
    assert.match(text, /^node_name,data,string,esp-cert-7$/m);
    assert.doesNotMatch(text, /^token,/m);
    const keyFile = /^client_key,file,string,(.+)$/m.exec(text)![1];
    assert.equal(fs.readFileSync(keyFile, 'utf8'), client.key);
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    assert.match(text, /^client_cert,file,string,/m);
  });
});

describe('picokubelet-sim run, driven through the control socket (fake API server)', () => {
  const api = new FakeApi({ token: 'cli-token-77' });
  let srv: FakeTlsServer;
  let child: ChildProcess | null = null;
  before(async () => {
    const pki = testPki();
    srv = await listenTls(api, { cert: pki.server.cert, key: pki.server.key });
  });
  after(async () => {
    child?.kill('SIGKILL');
    await srv.close();
  });

  it('refuses to start on a server it cannot verify (exit 2, one line)', async () => {
    const dir = tmpDir('cli-evil');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: srv.url, caPEM: testPki().otherCa.cert, token: 'cli-token-77' });
    const r = await runAsync(['run', '--name', 'evil', '--kubeconfig', kc]);
    assert.equal(r.code, 2);
    assert.match(r.stderr.trim(), /^picokubelet-sim: refusing to start: the certificate of https:\/\/127\.0\.0\.1:\d+ cannot be verified/);
    assert.match(r.stderr.trim(), /; give the cluster's CA with --ca FILE or certificate-authority-data in the kubeconfig$/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  it('runs, answers control commands, follows its scenario, and stops cleanly on SIGINT with --cleanup', async () => {
    const dir = tmpDir('cli-run');
    const kc = writeKubeconfig(path.join(dir, 'k'), { server: srv.url, caPEM: testPki().ca.cert, token: 'cli-token-77' });
    const sock = path.join(dir, 'ctl.sock');
    const scenario = path.join(dir, 'scenario.json');
    fs.writeFileSync(scenario, JSON.stringify({ heap: 'leak:rate=100', timeline: [{ at: 1.5, action: 'reset-connection' }] }));
    let stdout = '';
    let stderr = '';
    child = spawn(process.execPath, [
      // --log-format before the command: global flags work there too.
      BIN, '--log-format', 'json', 'run', '--name', 'cli-node', '--kubeconfig', kc, '--control-socket', sock, '--scenario', scenario, '--cleanup',
      '--core-config', '{"renewIntervalMs":300,"evaluateIntervalMs":300}', '--labels', 'rack=a,slot=7',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    await until(() => fs.existsSync(sock), 15_000, 'the control socket');
    const [wait] = await sendControl(sock, ['wait RUNNING 15']);
    assert.deepEqual(wait, { ok: true, result: 'RUNNING' });
    const [stats, led, heap, nodes, bad, json] = await sendControl(sock, [
      'stats', 'led', 'heap 15000', 'nodes', 'heap banana', '{"cmd":"link wifi:rssi=-70","id":9}',
    ]);
    assert.equal(stats.ok, true);
    const s = stats.result as Record<string, unknown>;
    assert.equal(s.name, 'cli-node');
    assert.equal(s.phaseName, 'RUNNING');
    for (const k of ['phase', 'led', 'renewals', 'renewFailures', 'statusPushes', 'requests', 'connects', 'wallMs', 'lastHttpStatus',
      'consecutiveFailures', 'memoryPressure', 'registrations', 'lastError', 'reconnects', 'memoryBytes']) assert.equal(typeof s[k], 'number', k);
    assert.deepEqual(Object.keys(led.result as object).sort(), ['code', 'pattern', 'phase']);
    assert.equal((heap.result as { heapFree: number }).heapFree, 15000);
    assert.deepEqual(nodes.result, ['cli-node']);
    assert.equal(bad.ok, false);
    assert.match(String(bad.error), /unknown heap scenario 'banana'/);
    assert.equal(json.id, 9);
    assert.match(String(json.result), /^wifi 127\.0\.0\.1 bssid 02:00:5e:10:00:01 rssi -70 dBm$/);
    const node = api.nodes.get('cli-node') as { metadata: { labels: Record<string, string> } };
    assert.equal(node.metadata.labels.rack, 'a');
    assert.equal(node.metadata.labels.slot, '7');
    // The core reports MemoryPressure once the heap is below 20 KiB.
    await until(() => api.requests.some((r) => r.path.endsWith('/status') && /"MemoryPressure","status":"True"/.test(r.body)), 10_000, 'MemoryPressure=True');
    // ctl: the command's words are not flags, even when they look like one (-70).
    const rssi = sim(['ctl', '--control-socket', sock, 'rssi', '-70']);
    assert.equal(rssi.code, 0, rssi.stderr);
    assert.match(rssi.stdout, /rssi -70 dBm/);
    const [down] = await sendControl(sock, ['link down 1']);
    assert.equal(down.result, 'down');
    // The link comes back after 1 s and the scenario resets the connection at 1.5 s: renewals go on.
    const before = (s.renewals as number);
    await until(() => fs.existsSync(sock) && stderr.includes('scenario t+1.5s'), 10_000, 'the scenario step');
    await new Promise((r) => setTimeout(r, 1000));
    const [later] = await sendControl(sock, ['stats']);
    const ls = later.result as { renewals: number; host: { link: string } };
    assert.ok(ls.renewals > before + 1, `renewals ${before} -> ${ls.renewals}`);
    assert.match(ls.host.link, /^wifi /);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child = null;
    assert.equal(code, 0, stderr);
    const logs = stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; source: string });
    assert.ok(logs.some((l) => /scenario t\+1\.5s: reset-connection/.test(l.msg)), `scenario step ran:\n${stderr}`);
    assert.ok(logs.some((l) => /fault: reset \d connection/.test(l.msg)));
    assert.ok(logs.some((l) => /link down for 1 s/.test(l.msg)));
    assert.ok(logs.some((l) => l.msg === 'stopped (SIGINT)'));
    assert.ok(!stderr.includes('cli-token-77'), 'the token is never logged');
    assert.match(stdout, /^LED cli-node HEALTHY$/m);
    assert.match(stdout, /^PHASE cli-node STOPPED$/m);
    assert.ok(!api.nodes.has('cli-node') && !api.leases.has('cli-node'), '--cleanup deleted the Node and Lease');
    assert.ok(!fs.existsSync(sock), 'socket removed');
  });
});

function runAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
