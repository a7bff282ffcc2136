/**
 * Shared pieces of the end-to-end suites: the local control plane (tools/cluster.mjs), per-node
 * credentials (`system:node:<name>` client certificates), kubectl, and in-process nodes from host-sim.
 * These suites never skip: without a running control plane they fail and say how to start it.
 */
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/core-harness.js";
import { loadCredentials, silentLogger, startNode, type SimNode, type NodeOptions } from "../../host-sim/src/index.js";

export const CLUSTER_DIR = process.env.PICOKUBELET_CLUSTER_DIR ?? join(ROOT, ".cluster");

export interface Cluster {
  server: string;
  caFile: string;
  caPEM: string;
  adminKubeconfig: string;
  kubectl: string;
  profile: string;
  /** The API server's client identity towards kubelets (--kubelet-client-certificate). */
  kubeletClient: { user: string; certFile: string; keyFile: string; clusterRole: string };
}

/** The running local control plane, or a loud failure. */
export function cluster(): Cluster {
  const file = join(CLUSTER_DIR, "cluster.json");
  if (!existsSync(file)) {
    throw new Error(`no local control plane at ${CLUSTER_DIR}: run \`npm run cluster -- up\` first (scripts/test.sh does)`);
  }
  return JSON.parse(readFileSync(file, "utf8")) as Cluster;
}

const execFileAsync = promisify(execFile);

/**
 * kubectl as cluster admin; parses JSON output when -o json is among the args. Asynchronous, so the
 * in-process nodes keep their timers while it runs.
 */
export async function kubectl(args: string[]): Promise<any> {
  const c = cluster();
  const { stdout } = await execFileAsync(c.kubectl, args, { encoding: "utf8", env: { ...process.env, KUBECONFIG: c.adminKubeconfig } });
  return args.includes("json") ? JSON.parse(stdout) : stdout;
}

/** The Node object, or null when it does not exist. */
export async function getNode(name: string): Promise<any | null> {
  try {
    return await kubectl(["get", "node", name, "-o", "json"]);
  } catch {
    return null;
  }
}

/** The node's Lease, or null. */
export async function getLease(name: string): Promise<any | null> {
  try {
    return await kubectl(["-n", "kube-node-lease", "get", "lease", name, "-o", "json"]);
  } catch {
    return null;
  }
}

export function condition(node: any, type: string): any {
  return (node?.status?.conditions ?? []).find((c: any) => c.type === type);
}

const credsDir = mkdtempSync(join(tmpdir(), "pk-e2e-"));

/** A kubeconfig for `system:node:<name>` (client certificate signed by the cluster CA). */
export function nodeKubeconfig(name: string): string {
  const out = join(credsDir, `${name}.kubeconfig`);
  execFileSync("node", [join(ROOT, "tools/cluster.mjs"), "kubeconfig-for-node", name, "--out", out, "--dir", CLUSTER_DIR], { stdio: "pipe" });
  return out;
}

/**
 * A kubeconfig for `user` in `groups` (client certificate signed by the cluster CA, `cluster.mjs
 * kubeconfig-for-user`): authenticated, and allowed nothing unless a test binds it.
 */
export function userKubeconfig(user: string, groups: string[] = []): string {
  const out = join(credsDir, `${user.replace(/[^A-Za-z0-9._-]/g, "_")}.kubeconfig`);
  execFileSync("node", [join(ROOT, "tools/cluster.mjs"), "kubeconfig-for-user", user, ...groups.flatMap((g) => ["--group", g]), "--out", out, "--dir", CLUSTER_DIR], { stdio: "pipe" });
  return out;
}

/** A unique node name for one test. */
export function nodeName(what: string): string {
  return `e2e-${what}-${Math.random().toString(36).slice(2, 7)}`;
}

/** Starts a node in this process with its own node credentials. */
export async function runNode(name: string, extra: Partial<NodeOptions> = {}, credentialOverrides: { token?: string } = {}): Promise<SimNode> {
  cluster();
  const credentials = loadCredentials({ kubeconfig: nodeKubeconfig(name), ...credentialOverrides });
  return startNode({ name, credentials, logger: silentLogger(), ...extra });
}

/** Polls `pred` every `everyMs` until it is truthy or `timeoutMs` passes. */
export async function eventually<T>(what: string, pred: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 500): Promise<T> {
  const stop = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > stop) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * For things that must NOT happen: runs `check` (which throws when the property is broken) every
 * `everyMs` for a bounded window of `windowMs`, and fails at the first sample that breaks it. Returns how
 * many samples held. A test that shows "nothing flips for two minutes" has to let the two minutes pass;
 * this makes it look the whole time instead of once at the end.
 */
export async function holdsFor(what: string, check: () => void | Promise<void>, windowMs: number, everyMs = 1_000): Promise<number> {
  const stop = Date.now() + windowMs;
  let samples = 0;
  for (;;) {
    try {
      await check();
    } catch (e) {
      throw new Error(`${what} broke after ${samples} good samples: ${(e as Error).message}`);
    }
    samples++;
    const left = stop - Date.now();
    if (left <= 0) return samples;
    await new Promise((r) => setTimeout(r, Math.min(everyMs, left)));
  }
}

/** Deletes a node and its lease as admin (test cleanup). */
export async function removeNode(name: string): Promise<void> {
  try {
    await kubectl(["delete", "node", name, "--ignore-not-found", "--wait=false"]);
    await kubectl(["-n", "kube-node-lease", "delete", "lease", name, "--ignore-not-found", "--wait=false"]);
  } catch {
    // best effort
  }
}
