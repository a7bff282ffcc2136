// Shared helpers for the tests against the real local control plane
// (tools/cluster.mjs). These tests need a running cluster and FAIL without one.

import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requestJson } from './https.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLUSTER_DIR = path.resolve(process.env.PICOKUBELET_CLUSTER_DIR || path.join(REPO_ROOT, '.cluster'));
export const CLUSTER_CLI = path.join(REPO_ROOT, 'tools', 'cluster.mjs');
const execFileP = promisify(execFile);

/**
 * Reads .cluster/cluster.json. Throws (so the test FAILS, loudly) when the
 * cluster is not up: these tests are never skipped silently.
 */
export function loadCluster() {
  const file = path.join(CLUSTER_DIR, 'cluster.json');
  let info;
  try {
    info = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    const banner = '!'.repeat(78);
    throw new Error(
      `\n${banner}\n  NO LOCAL CLUSTER: ${file} is missing.\n` +
        '  Start the control plane first:   npm run cluster -- up\n' +
        '  (then: node --test tests/cluster/ ; stop it with: npm run cluster -- down)\n' +
        `${banner}`,
    );
  }
  const pid = info.pids?.testenv;
  let alive = false;
  try {
    process.kill(pid, 0);
    alive = true;
  } catch (e) {
    alive = e.code === 'EPERM';
  }
  if (!alive) {
    throw new Error(`${file} is stale: testenv (pid ${pid}) is not running. Run \`npm run cluster -- up\` first.`);
  }
  if (!info.ready) throw new Error(`${file} says the cluster is not ready (restarting?); check \`npm run cluster -- status\``);
  return info;
}

export const cluster = loadCluster();

/** A name unique to this run, usable as a node name. */
export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * One HTTPS request to the API server.
 * auth: { token } | { cert, key } | {} (anonymous). ca defaults to the cluster CA.
 */
export async function api(method, urlPath, opts = {}) {
  // Ride out a concurrent `cluster restart-apiserver` (restart.test.mjs): retry
  // while the port refuses connections, for a bounded time.
  const deadline = Date.now() + (opts.retryMs ?? 30_000);
  for (;;) {
    try {
      return await apiOnce(method, urlPath, opts);
    } catch (e) {
      if (!/ECONNREFUSED|ECONNRESET|socket hang up/.test(String(e?.code || e?.message)) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function apiOnce(method, urlPath, { body, auth = { token: cluster.adminToken }, contentType, ca = cluster.caPEM, timeoutMs = 10_000 } = {}) {
  return requestJson(cluster.server, ca, method, urlPath, { body, auth, contentType, timeoutMs });
}

export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_PATCH = 'application/strategic-merge-patch+json';

/** Runs the cluster's kubectl as admin (or with the given KUBECONFIG). */
export async function kubectl(args, { kubeconfig = cluster.adminKubeconfig, input, allowFail = false } = {}) {
  const bin = path.join(cluster.binDir, 'kubectl');
  if (input !== undefined) {
    const r = spawnSync(bin, args, { input, encoding: 'utf8', env: { ...process.env, KUBECONFIG: kubeconfig } });
    if (r.status !== 0 && !allowFail) throw new Error(`kubectl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  try {
    const { stdout, stderr } = await execFileP(bin, args, { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    if (!allowFail) throw new Error(`kubectl ${args.join(' ')} failed (${e.code}): ${e.stderr}`);
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Runs `node tools/cluster.mjs ...` and returns its result. */
export function clusterCli(args) {
  return spawnSync(process.execPath, [CLUSTER_CLI, ...args, '--dir', CLUSTER_DIR], { encoding: 'utf8' });
}

/** Minimal reader for the kubeconfigs written by tools/cluster.mjs (flat `key: value` lines). */
export function readKubeconfig(file) {
  const text = fs.readFileSync(file, 'utf8');
  const get = (k) => {
    const m = text.match(new RegExp(`^\\s*${k}:\\s*(.+)$`, 'm'));
    if (!m) return undefined;
    const v = m[1].trim();
    return v.startsWith('"') ? JSON.parse(v) : v;
  };
  const b64 = (k) => {
    const v = get(k);
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };
  return {
    server: get('server'),
    ca: b64('certificate-authority-data'),
    cert: b64('client-certificate-data'),
    key: b64('client-key-data'),
    token: get('token'),
    user: get('current-context'),
  };
}

/** Polls fn() until it returns a truthy value or the timeout passes. */
export async function waitUntil(what, fn, { timeoutMs = 30_000, intervalMs = 250 } = {}) {
  const start = Date.now();
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A Node object as a node agent would register it. */
export function nodeManifest(name, { taints = [] } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'wasm32', 'picokubelet.dev/test': 'cluster' },
    },
    spec: { taints },
  };
}

export function leaseManifest(name, nodeUid) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace: 'kube-node-lease',
      ownerReferences: nodeUid ? [{ apiVersion: 'v1', kind: 'Node', name, uid: nodeUid }] : undefined,
    },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime() },
  };
}

/** RFC 3339 with microseconds, as Lease.spec.renewTime (MicroTime) wants. */
export function microTime(d = new Date()) {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function readyStatusPatch() {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const cond = (type, status, reason, message) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
  return {
    status: {
      conditions: [
        cond('Ready', 'True', 'KubeletReady', 'picokubelet test agent is posting ready status'),
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'ok'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'ok'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'ok'),
      ],
      capacity: { cpu: '240m', memory: '320Ki', pods: '1' },
      allocatable: { cpu: '240m', memory: '320Ki', pods: '1' },
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      nodeInfo: { kubeletVersion: 'v1.36.3-picokubelet', operatingSystem: 'linux', architecture: 'wasm32' },
    },
  };
}

/** Deletes objects as admin, ignoring 404s. */
export async function cleanup(paths) {
  for (const p of paths) {
    try {
      await api('DELETE', p);
    } catch {
      /* best effort */
    }
  }
}
