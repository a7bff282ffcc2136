// tests/host-sim/support/cluster.ts
// The real local control plane (tools/cluster.mjs) for host-sim suites: cluster.json, node kubeconfigs
// minted for system:node:<name>, and admin API calls. Without a running cluster this FAILS, loudly.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { repoRoot } from '../../../host-sim/src/runtime.js';

export interface ClusterInfo {
  ready: boolean;
  server: string;
  caPEM: string;
  adminToken: string;
  dir: string;
}

export const CLUSTER_DIR = path.resolve(process.env.PICOKUBELET_CLUSTER_DIR ?? path.join(repoRoot(), '.cluster'));

/** cluster.json, or an Error telling how to start the control plane. */
export function loadCluster(): ClusterInfo {
  const file = path.join(CLUSTER_DIR, 'cluster.json');
  let info: ClusterInfo;
  try {
    info = JSON.parse(fs.readFileSync(file, 'utf8')) as ClusterInfo;
  } catch {
    const bar = '!'.repeat(78);
    throw new Error(
      `\n${bar}\n  NO LOCAL CLUSTER: ${file} is missing, so the host-sim rack test cannot run.\n` +
        '  Start the control plane first:   npm run cluster -- up\n' +
        `  (stop it afterwards with: npm run cluster -- down)\n${bar}`,
    );
  }
  if (!info.ready) throw new Error(`${file} says the cluster is not ready; check \`npm run cluster -- status\``);
  return info;
}

/** Mints `<prefix><i>.kubeconfig` (client certificates for system:node:<prefix><i>) into a directory. */
export function mintNodeKubeconfigs(prefix: string, count: number, outDir: string): void {
  execFileSync(process.execPath, [
    path.join(repoRoot(), 'tools', 'cluster.mjs'), 'kubeconfig-for-node', '--prefix', prefix, '--count', String(count), '--out-dir', outDir,
    '--dir', CLUSTER_DIR,
  ], { stdio: 'pipe' });
}

/** One admin request to the API server; resolves with status and parsed JSON (null if not JSON). */
export function adminApi(c: ClusterInfo, method: string, urlPath: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(urlPath, c.server), {
      method, ca: c.caPEM, headers: { Authorization: `Bearer ${c.adminToken}`, Accept: 'application/json' }, timeout: 10_000,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

/** The status of condition `type` on a Node object, or undefined. */
export function condition(node: any, type: string): string | undefined {
  return (node?.status?.conditions as Array<{ type: string; status: string }> | undefined)?.find((c) => c.type === type)?.status;
}
