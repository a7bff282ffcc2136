// The API server flavour a node meets (`up --profile`, issue 14 item 3): with
// the default k3s profile anonymous requests get 401 and the API server dials a
// node's InternalIP before its Hostname; with `--profile upstream` the API
// server's own defaults hold. Both have Node,RBAC, NodeRestriction, bootstrap
// tokens and the TLS-bootstrap bindings. The test checks the profile the
// running cluster says it has (cluster.json `profile`).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { api, cleanup, cluster, uniqueName } from './helpers.mjs';

const k3s = cluster.profile === 'k3s';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-profile-test-'));
const created = [];
after(async () => {
  await cleanup(created);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function apiserverArgv() {
  return fs.readFileSync(`/proc/${cluster.pids['kube-apiserver']}/cmdline`, 'utf8').split('\0');
}

test('cluster.json names a known profile, and the API server runs with its flags', () => {
  assert.ok(['k3s', 'upstream'].includes(cluster.profile), `profile ${cluster.profile}`);
  const argv = apiserverArgv();
  for (const f of ['--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction', '--enable-bootstrap-token-auth=true']) {
    assert.ok(argv.includes(f), `kube-apiserver runs without ${f}`);
  }
  assert.equal(argv.includes('--anonymous-auth=false'), k3s);
  assert.equal(argv.includes('--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname'), k3s);
  assert.ok(cluster.controllers.includes('token-cleaner-controller'));
  // kubeadm adds the bootstrap signer next to the token cleaner; k3s only the cleaner.
  assert.equal(cluster.controllers.includes('bootstrap-signer-controller'), !k3s);
});

test(k3s ? 'anonymous requests get 401, also for /version and /readyz' : 'anonymous requests may read /version but nothing else', async () => {
  for (const p of ['/version', '/readyz', '/api/v1/nodes', '/api/v1/namespaces/kube-system/secrets']) {
    const r = await api('GET', p, { auth: {} });
    const public_ = p === '/version' || p === '/readyz';
    const want = k3s ? 401 : public_ ? 200 : 403;
    assert.equal(r.status, want, `GET ${p} anonymous: ${r.status} ${r.text.slice(0, 200)}`);
  }
});

test('the TLS-bootstrap bindings of deploy/bootstrap-rbac.yaml are in place', async () => {
  const want = {
    'picokubelet:node-bootstrapper': ['system:node-bootstrapper', 'system:bootstrappers'],
    'picokubelet:node-autoapprove-bootstrap': ['system:certificates.k8s.io:certificatesigningrequests:nodeclient', 'system:bootstrappers'],
    'picokubelet:node-autoapprove-certificate-rotation': ['system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', 'system:nodes'],
  };
  for (const [name, [role, group]] of Object.entries(want)) {
    const r = await api('GET', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${encodeURIComponent(name)}`);
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    assert.equal(r.json.roleRef.name, role);
    assert.deepEqual(r.json.subjects.map((s) => `${s.kind}/${s.name}`), [`Group/${group}`]);
  }
});

/** A stand-in kubelet endpoint on 127.0.0.1 with a serving certificate from the cluster CA (SAN IP 127.0.0.1). */
async function fakeKubeletEndpoint() {
  const key = path.join(tmp, 'kubelet.key');
  const csr = path.join(tmp, 'kubelet.csr');
  const crt = path.join(tmp, 'kubelet.crt');
  const ext = path.join(tmp, 'ext.cnf');
  const pki = path.join(cluster.dir, 'pki');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/O=system:nodes/CN=system:node:pk-profile', '-out', csr]);
  fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n');
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', path.join(pki, 'ca.crt'), '-CAkey', path.join(pki, 'ca.key'), '-CAcreateserial', '-CAserial', path.join(tmp, 'ca.srl'), '-days', '1', '-extfile', ext, '-out', crt]);
  const seen = [];
  const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(crt) }, (req, res) => {
    seen.push(req.url);
    res.end('ok-from-internal-ip');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, seen, port: server.address().port };
}

// Pod logs, as `kubectl logs` asks for them: the API server picks the node's address by the preferred
// types and connects to https://<address>:<kubelet port>/containerLogs/... (the node proxy subresource
// would refuse a loopback address outright, so it cannot show the order here).
test(k3s ? 'the API server dials the InternalIP first (not an unresolvable Hostname listed before it)' : 'the API server dials the Hostname first (upstream address order)', async () => {
  const ep = await fakeKubeletEndpoint();
  try {
    const name = uniqueName('pk-addr');
    const c = await api('POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name } } });
    assert.equal(c.status, 201, c.text);
    created.push(`/api/v1/nodes/${name}`);
    const st = await api('PATCH', `/api/v1/nodes/${name}/status`, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          addresses: [
            { type: 'Hostname', address: 'pk-unresolvable.invalid' },
            { type: 'InternalIP', address: '127.0.0.1' },
          ],
          daemonEndpoints: { kubeletEndpoint: { Port: ep.port } },
        },
      },
    });
    assert.equal(st.status, 200, st.text);
    const pod = await api('POST', '/api/v1/namespaces/default/pods', {
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: name, containers: [{ name: 'c', image: 'registry.invalid/none' }] } },
    });
    assert.equal(pod.status, 201, pod.text);
    // No kubelet runs to confirm a graceful deletion.
    created.unshift(`/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
    const r = await api('GET', `/api/v1/namespaces/default/pods/${name}/log?container=c`);
    if (k3s) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, 'ok-from-internal-ip');
      assert.deepEqual(ep.seen, [`/containerLogs/default/${name}/c`]);
    } else {
      assert.notEqual(r.status, 200, r.text);
      assert.match(r.text, /pk-unresolvable\.invalid/);
      assert.deepEqual(ep.seen, []);
    }
  } finally {
    ep.server.close();
  }
});
