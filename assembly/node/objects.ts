/**
 * Request bodies for every API call, built byte-exact with the streaming writer.
 *
 * Field order follows the original firmware where it had the field, so golden tests can compare bytes.
 * Differences from it, each fixing a flaw of the original (docs/behaviour.md): taints at creation,
 * daemonEndpoints only once the host listens on the port, a Lease ownerReference to the Node, bootID per boot
 * and systemUUID from the MAC, a NetworkUnavailable condition, and timestamps that are RFC 3339 for
 * conditions and real-precision MicroTime for the Lease.
 */
import { ByteBuffer } from "../util/bytes";
import { JsonWriter } from "../json/writer";
import { Config, Pair } from "./config";
import { ConditionTracker, CONDITION_COUNT, conditionType, statusText } from "./conditions";
import { HEAP_ANNOTATION, KUBELET_VERSION, LEASE_NAMESPACE } from "./defaults";

/** Per-boot identity facts that go into the Node. */
export class Identity {
  /** Dotted-quad InternalIP ("" until the link reports one). */
  ip: string = "";
  bootId: string = "";
  systemUuid: string = "";
  machineId: string = "";
  /** The kubelet port the host listens on (0 until OP_LISTEN succeeded): only then is it advertised. */
  kubeletPort: i32 = 0;
  /** nodeInfo.kubeletVersion: the API server's version with ours appended (node/anchor.ts). */
  kubeletVersion: string = KUBELET_VERSION;
}

/** `POST /api/v1/nodes` body. */
export function nodeBody(out: ByteBuffer, c: Config, id: Identity, conds: ConditionTracker, nowMs: i64): void {
  const w = new JsonWriter(out);
  w.beginObject().field("apiVersion", "v1").field("kind", "Node");
  w.key("metadata").beginObject().field("name", c.nodeName);
  w.key("labels");
  pairs(w, c.labels);
  w.endObject();
  w.key("spec").beginObject();
  if (c.taints.length > 0) {
    w.key("taints").beginArray();
    for (let i = 0; i < c.taints.length; i++) {
      const t = c.taints[i];
      w.beginObject().field("key", t.key);
      if (t.value.length > 0) w.field("value", t.value);
      w.field("effect", t.effect).endObject();
    }
    w.endArray();
  }
  w.endObject();
  w.key("status").beginObject();
  staticStatus(w, c, id, false);
  w.key("conditions");
  conditions(w, conds, nowMs);
  w.endObject();
  w.endObject();
}

/**
 * The status fields we own besides conditions: capacity, allocatable, nodeInfo, addresses, endpoints
 * (`patch`: in a strategic-merge PATCH, where the address list replaces the server's).
 */
function staticStatus(w: JsonWriter, c: Config, id: Identity, patch: bool): void {
  w.key("capacity");
  pairs(w, c.capacity);
  w.key("allocatable");
  pairs(w, c.capacity);
  w.key("nodeInfo");
  nodeInfo(w, c, id);
  w.key("addresses");
  addresses(w, c, id, patch);
  if (id.kubeletPort > 0) {
    w.key("daemonEndpoints").beginObject().key("kubeletEndpoint").beginObject();
    w.fieldInt("Port", id.kubeletPort).endObject().endObject();
  }
}

/** status.nodeInfo, in the API's field order. */
export function nodeInfo(w: JsonWriter, c: Config, id: Identity): void {
  w.beginObject();
  w.field("machineID", id.machineId);
  w.field("systemUUID", id.systemUuid);
  w.field("bootID", id.bootId);
  w.field("kernelVersion", c.kernelVersion);
  w.field("osImage", c.osImage);
  w.field("containerRuntimeVersion", "lies://0.1.0");
  w.field("kubeletVersion", id.kubeletVersion);
  w.field("operatingSystem", "no_std");
  w.field("architecture", "xtensa-lx7");
  w.endObject();
}

/** The nodeInfo fields we set, as pairs (for comparing with an adopted Node). */
export function nodeInfoPairs(c: Config, id: Identity): Pair[] {
  return [
    new Pair("machineID", id.machineId),
    new Pair("systemUUID", id.systemUuid),
    new Pair("bootID", id.bootId),
    new Pair("kernelVersion", c.kernelVersion),
    new Pair("osImage", c.osImage),
    new Pair("containerRuntimeVersion", "lies://0.1.0"),
    new Pair("kubeletVersion", id.kubeletVersion),
    new Pair("operatingSystem", "no_std"),
    new Pair("architecture", "xtensa-lx7"),
  ];
}

/**
 * status.addresses: InternalIP (once known), then Hostname only when one is configured. The node name is
 * not a Hostname address: it rarely resolves in DNS, and an API server that dials the Hostname first (its
 * default address order) could then not reach the kubelet port. In a status PATCH the list replaces the
 * server's (strategic merge would otherwise keep a Hostname an older version reported).
 */
function addresses(w: JsonWriter, c: Config, id: Identity, replace: bool): void {
  w.beginArray();
  if (replace) w.beginObject().field("$patch", "replace").endObject();
  if (id.ip.length > 0) w.beginObject().field("type", "InternalIP").field("address", id.ip).endObject();
  if (c.hostname.length > 0) w.beginObject().field("type", "Hostname").field("address", c.hostname).endObject();
  w.endArray();
}

function pairs(w: JsonWriter, list: Pair[]): void {
  w.beginObject();
  for (let i = 0; i < list.length; i++) w.field(list[i].key, list[i].value);
  w.endObject();
}

/** status.conditions: every tracked condition with a shared heartbeat `nowMs`. */
function conditions(w: JsonWriter, conds: ConditionTracker, nowMs: i64): void {
  w.beginArray();
  for (let i = 0; i < CONDITION_COUNT; i++) {
    const c = conds.items[i];
    w.beginObject();
    w.field("type", conditionType(i));
    w.field("status", statusText(c.status));
    w.field("reason", c.reason);
    w.field("message", c.message);
    w.key("lastHeartbeatTime");
    w.timestamp(nowMs);
    w.key("lastTransitionTime");
    w.timestamp(c.transitionMs);
    w.endObject();
  }
  w.endArray();
}

/** What a status PATCH carries besides conditions. */
export enum StatusExtras {
  None = 0,
  /** status.addresses (a new IP). */
  Addresses = 1,
  /** capacity, allocatable, nodeInfo, addresses, endpoints (after adopting a Node that differs). */
  All = 2,
}

/** `PATCH /api/v1/nodes/<name>/status` body (strategic merge: conditions merge by type). */
export function statusPatch(
  out: ByteBuffer, c: Config, id: Identity, conds: ConditionTracker, nowMs: i64, extras: StatusExtras,
): void {
  const w = new JsonWriter(out);
  w.beginObject().key("status").beginObject();
  if (extras == StatusExtras.All) staticStatus(w, c, id, true);
  else if (extras == StatusExtras.Addresses) {
    w.key("addresses");
    addresses(w, c, id, true);
  }
  w.key("conditions");
  conditions(w, conds, nowMs);
  w.endObject().endObject();
}

/** `PATCH /api/v1/nodes/<name>` body for the heap annotation (merge patch; the value is a string). */
export function annotationPatch(out: ByteBuffer, freeBytes: i64): void {
  const w = new JsonWriter(out);
  w.beginObject().key("metadata").beginObject().key("annotations").beginObject();
  w.field(HEAP_ANNOTATION, freeBytes.toString());
  w.endObject().endObject().endObject();
}

/** `PATCH /api/v1/nodes/<name>` body that sets our labels on an adopted Node (merge patch). */
export function labelsPatch(out: ByteBuffer, c: Config): void {
  const w = new JsonWriter(out);
  w.beginObject().key("metadata").beginObject().key("labels");
  pairs(w, c.labels);
  w.endObject().endObject();
}

/** Lease body for `POST …/leases`, owned by the Node (uid) so it is collected with it. */
export function leaseBody(out: ByteBuffer, c: Config, nodeUid: string, renewMs: i64): void {
  const w = new JsonWriter(out);
  w.beginObject().field("apiVersion", "coordination.k8s.io/v1").field("kind", "Lease");
  w.key("metadata").beginObject().field("name", c.nodeName).field("namespace", LEASE_NAMESPACE);
  ownerReferences(w, c, nodeUid);
  w.endObject();
  leaseSpec(w, c, renewMs);
  w.endObject();
}

/** Merge patch that takes over an existing Lease: our owner reference and our spec. */
export function leaseAdoptPatch(out: ByteBuffer, c: Config, nodeUid: string, renewMs: i64): void {
  const w = new JsonWriter(out);
  w.beginObject().key("metadata").beginObject();
  ownerReferences(w, c, nodeUid);
  w.endObject();
  leaseSpec(w, c, renewMs);
  w.endObject();
}

/** The small merge patch of a renewal. */
export function leaseRenewPatch(out: ByteBuffer, c: Config, renewMs: i64): void {
  const w = new JsonWriter(out);
  w.beginObject();
  leaseSpec(w, c, renewMs);
  w.endObject();
}

function ownerReferences(w: JsonWriter, c: Config, nodeUid: string): void {
  w.key("ownerReferences").beginArray().beginObject();
  w.field("apiVersion", "v1").field("kind", "Node").field("name", c.nodeName).field("uid", nodeUid);
  w.endObject().endArray();
}

function leaseSpec(w: JsonWriter, c: Config, renewMs: i64): void {
  w.key("spec").beginObject();
  w.field("holderIdentity", c.nodeName);
  w.fieldInt("leaseDurationSeconds", c.leaseDurationSeconds);
  w.key("renewTime");
  w.timestamp(renewMs, true);
  w.endObject();
}
