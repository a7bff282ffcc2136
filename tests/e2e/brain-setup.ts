/**
 * What the brain end-to-end suites share: the local control plane's registry and the namespace brain pods
 * are honoured from, with the RuntimeClass and a pull secret for that registry (docs/brain.md "Declare").
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/core-harness.js";
import { CLUSTER_DIR, kubectl } from "./support.js";

/** The namespace a node trusts brain pods from by default. */
export const BRAIN_NS = "picokubelet-system";
/** The pull secret brainNamespace() makes there. */
export const PULL_SECRET = "brain-registry";

export interface LocalRegistry {
  /** host:port */
  address: string;
  /** The htpasswd user's credentials file (JSON: username, password). */
  authFile: string;
  /** The local control plane's oras wrapper (logged in, trusting its CA). */
  oras: string;
}

/** The registry `cluster.mjs up` started, or a failed assertion saying so. */
export function localRegistry(): LocalRegistry {
  const c = JSON.parse(readFileSync(join(CLUSTER_DIR, "cluster.json"), "utf8"));
  assert.ok(c.addons?.registry, "the local control plane has no registry (cluster.mjs up starts one)");
  return { address: c.addons.registry.address, authFile: c.addons.registry.authFile, oras: join(CLUSTER_DIR, "bin", "oras") };
}

const dir = mkdtempSync(join(tmpdir(), "pk-brain-e2e-"));

/** kubectl apply of one object. */
export async function apply(doc: any): Promise<void> {
  const f = join(dir, `${doc.kind}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(doc));
  await kubectl(["apply", "-f", f]);
}

/** The RuntimeClass, the brain namespace, and a dockerconfigjson pull secret there for `reg`. */
export async function brainNamespace(reg: LocalRegistry): Promise<void> {
  const auth = JSON.parse(readFileSync(reg.authFile, "utf8"));
  await kubectl(["apply", "-f", join(ROOT, "deploy", "runtimeclass-brain.yaml")]);
  await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: BRAIN_NS } });
  const dockerConfig = { auths: { [reg.address]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString("base64") } } };
  await apply({
    apiVersion: "v1", kind: "Secret", metadata: { name: PULL_SECRET, namespace: BRAIN_NS }, type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(JSON.stringify(dockerConfig)).toString("base64") },
  });
}
