/**
 * The snapshot of a brain swap (ABI.md "Snapshot"): what a new core instance needs to carry on as this
 * one without the cluster seeing a reboot. Same boot ID, same Node uid, the Lease renewed where this one
 * left it, the wall clock anchored, condition transition times and counters kept.
 *
 * Format: one JSON object (at most SNAPSHOT_MAX_BYTES), written with the streaming writer and read with the
 * streaming scanner. `picokubeletSnapshot` is the format version; every other member is one component's
 * section (node, clock, lease, status). A component adds its state as a section of its own: its block in
 * `writeSnapshot`, its paths in FIELDS, its cases in `value`, its checks in `problem` and its lines in
 * `apply`. Unknown members are ignored, so a section a later core adds does not break an older reader; a
 * missing or malformed field refuses the whole snapshot, naming the field. (One flat reader rather than a
 * class per section: the module's size budget pays for every virtual method.)
 */
import { ByteBuffer } from "../util/bytes";
import { JsonWriter } from "../json/writer";
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";
import { MIN_DATE_SECS, MAX_DATE_SECS } from "../util/clock";
import { SNAPSHOT_MAX_BYTES } from "../abi/codes";
import { CONDITION_COUNT, CStatus } from "../node/conditions";
import { Kubelet } from "./agent";
import { objectName } from "../node/csr";
import { KUBELET_VERSION_SUFFIX } from "../node/defaults";
import { isSha256 } from "../brain/reference";
import { Role } from "../pods/pod";
import { podRecord } from "../pods/resume";

/** Most pod records a snapshot is read with (a 16 KiB snapshot holds about 80). */
const MAX_PODS = 128;

/** Where our own part of kubeletVersion starts (`v1.31.1-picokubelet.0.1.0`). */
const KUBELET_VERSION_MARK = "-picokubelet.";

/** The format version written; readers refuse any other. */
export const SNAPSHOT_FORMAT: i64 = 1;

// Field indices of FIELDS, by section.
const F_FORMAT = 0;
const F_NODE_NAME = 1;
const F_NODE_UID = 2;
const F_BOOT_ID = 3;
const F_KUBELET_VERSION = 4;
const F_REGISTRATIONS = 5;
const F_WALL_MS = 6;
const F_RENEW_TIME = 7;
const F_RENEWALS = 8;
const F_RENEW_FAILURES = 9;
const F_PUSHES = 10;
const F_MEMORY_PRESSURE = 11;
const F_STATUSES = 12;
const F_SINCE = 13;
const F_SERVING_CSR = 14;
const F_BRAIN_POD = 15;
const F_BRAIN_IMAGE = 16;
const F_BRAIN_DIGEST = 17;
const F_BRAIN_VERSION = 18;
const F_BRAIN_RESTARTS = 19;
const F_POD_UID = 20;
const F_POD_RECORD = 21;

const FIELDS: string[] = [
  "picokubeletSnapshot",
  "node.name", "node.uid", "node.bootId", "node.kubeletVersion", "node.registrations",
  "clock.wallMs",
  "lease.renewTimeMs", "lease.renewals", "lease.renewFailures",
  "status.pushes", "status.memoryPressure", "status.conditions[]", "status.since[]",
  "certificates.serving",
  "brain.pod", "brain.image", "brain.digest", "brain.version", "brain.restarts",
  "pods[].u", "pods[].r",
];

/** Room kept for the sections after `pods` (the pods section stops adding records before it). */
const AFTER_PODS_BYTES = 1024;

/** Serialises a running core's state into `out` (cleared first); false when it does not fit. */
export function writeSnapshot(out: ByteBuffer, k: Kubelet, now: i64): bool {
  const ctx = k.ctx;
  out.clear();
  const w = new JsonWriter(out);
  w.beginObject().fieldInt("picokubeletSnapshot", SNAPSHOT_FORMAT);
  w.key("node").beginObject().field("name", ctx.cfg.nodeName).field("uid", ctx.nodeUid).field("bootId", ctx.identity.bootId);
  w.field("kubeletVersion", ctx.identity.kubeletVersion).fieldInt("registrations", ctx.registrations).endObject();
  w.key("clock").beginObject().fieldInt("wallMs", ctx.clock.wallMs(now)).endObject();
  w.key("lease").beginObject().fieldInt("renewTimeMs", k.lease.renewTimeMs).fieldInt("renewals", ctx.renewals);
  w.fieldInt("renewFailures", ctx.renewFailures).endObject();
  w.key("status").beginObject().fieldInt("pushes", ctx.statusPushes).key("memoryPressure").bool(k.status.memoryPressure);
  // Condition statuses and transition times, in the order of node/conditions.ts Cond.
  const items = k.status.conds.items;
  w.key("conditions").beginArray();
  for (let i = 0; i < CONDITION_COUNT; i++) w.int(<i64>items[i].status);
  w.endArray().key("since").beginArray();
  for (let i = 0; i < CONDITION_COUNT; i++) w.int(items[i].transitionMs);
  w.endArray().endObject();
  // The CSR the serving certificate manager polls, so the next instance waits for it instead of asking anew.
  w.key("certificates").beginObject().field("serving", k.serving.pendingCsr).endObject();
  // The pods played, so the successor carries them on (pods/resume.ts); as many as fit.
  w.key("pods").beginArray();
  const pods = k.pods.pods;
  for (let i = 0; i < pods.length; i++) {
    const p = pods[i];
    if (p.role != Role.Playing) continue;
    if (out.length > SNAPSHOT_MAX_BYTES - AFTER_PODS_BYTES) break;
    w.beginObject().field("u", p.uid).field("r", podRecord(p)).endObject();
  }
  w.endArray();
  // The brain pod this instance committed to (docs/brain.md "Swap"): the successor, or the instance
  // restored after a roll-back, shows on that pod whether it is that brain.
  const b = k.puller;
  if (b.committedPod.length > 0) {
    w.key("brain").beginObject().field("pod", b.committedPod).field("image", b.committedImage).field("digest", b.committedDigest);
    w.field("version", b.committedVersion).fieldInt("restarts", b.committedRestarts).endObject();
  }
  w.endObject();
  return !out.overflow && out.length <= SNAPSHOT_MAX_BYTES;
}

/** The parsed snapshot; `error` names what makes it unusable ("" when it can be applied). */
export class Snapshot extends ScanHandler {
  error: string = "";
  version: i64 = -1;
  nodeName: string = "";
  uid: string = "";
  bootId: string = "";
  kubeletVersion: string = "";
  registrations: i64 = -1;
  wallMs: i64 = -1;
  renewTimeMs: i64 = -1;
  renewals: i64 = -1;
  renewFailures: i64 = -1;
  pushes: i64 = -1;
  memoryPressure: i32 = -1;
  statuses: StaticArray<i64> = new StaticArray<i64>(CONDITION_COUNT);
  since: StaticArray<i64> = new StaticArray<i64>(CONDITION_COUNT);
  /** Entries read of each array; a value out of range or one too many sets `badCondition`. */
  statusCount: i32 = 0;
  sinceCount: i32 = 0;
  badCondition: bool = false;
  /** certificates.serving: optional (a snapshot of an older core has no such section). */
  servingCsr: string = "";
  /** brain: optional (only after a commit). */
  brainPod: string = "";
  brainImage: string = "";
  brainDigest: string = "";
  brainVersion: string = "";
  brainRestarts: i64 = 0;
  /** pods[]: uid and record pairs (optional). */
  podUids: string[] = [];
  podRecords: string[] = [];
  private podUid: string = "";

  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    const s = kind == ValueKind.String ? v.toString() : "";
    const n = num(kind, v);
    switch (field) {
      case F_FORMAT: this.version = n; break;
      case F_NODE_NAME: this.nodeName = s; break;
      case F_NODE_UID: this.uid = s; break;
      case F_BOOT_ID: this.bootId = s; break;
      case F_KUBELET_VERSION: this.kubeletVersion = s; break;
      case F_REGISTRATIONS: this.registrations = n; break;
      case F_WALL_MS: this.wallMs = n; break;
      case F_RENEW_TIME: this.renewTimeMs = n; break;
      case F_RENEWALS: this.renewals = n; break;
      case F_RENEW_FAILURES: this.renewFailures = n; break;
      case F_PUSHES: this.pushes = n; break;
      case F_MEMORY_PRESSURE: this.memoryPressure = kind == ValueKind.True ? 1 : kind == ValueKind.False ? 0 : -1; break;
      case F_STATUSES:
        if (this.statusCount >= CONDITION_COUNT || n < CStatus.True || n > CStatus.Unknown) this.badCondition = true;
        else this.statuses[this.statusCount++] = n;
        break;
      case F_SERVING_CSR: if (objectName(v)) this.servingCsr = s; break;
      case F_BRAIN_POD: if (v.length <= 64) this.brainPod = s; break;
      case F_BRAIN_IMAGE: if (v.length <= 512) this.brainImage = s; break;
      case F_BRAIN_DIGEST: if (isSha256(s)) this.brainDigest = s; break;
      case F_BRAIN_VERSION: if (v.length <= 64) this.brainVersion = s; break;
      case F_BRAIN_RESTARTS: if (n >= 0 && n < 1_000_000) this.brainRestarts = n; break;
      case F_POD_UID: this.podUid = v.length <= 64 ? s : ""; break;
      case F_POD_RECORD:
        if (this.podUid.length > 0 && v.length <= 512 && this.podUids.length < MAX_PODS) {
          this.podUids.push(this.podUid);
          this.podRecords.push(s);
        }
        this.podUid = "";
        break;
      case F_SINCE:
        if (this.sinceCount >= CONDITION_COUNT || n < 0) this.badCondition = true;
        else this.since[this.sinceCount++] = n;
        break;
    }
  }

  /** The first field that is missing or wrong for node `nodeName`, or "". */
  problem(nodeName: string): string {
    if (this.version != SNAPSHOT_FORMAT) return "format " + this.version.toString();
    if (this.nodeName != nodeName) return "node.name (another node's)";
    if (this.uid.length == 0 || this.uid.length > 64 || this.bootId.length != 36 || this.kubeletVersion.length == 0 ||
      this.kubeletVersion.length > 128 || this.registrations < 1) return "node";
    if (this.wallMs < MIN_DATE_SECS * 1000 || this.wallMs >= MAX_DATE_SECS * 1000) return "clock.wallMs";
    if (this.renewTimeMs < 0 || this.renewals < 0 || this.renewFailures < 0) return "lease";
    if (this.pushes < 0 || this.memoryPressure < 0) return "status";
    if (this.badCondition || this.statusCount != CONDITION_COUNT || this.sinceCount != CONDITION_COUNT) return "status.conditions";
    return "";
  }

  /** Applies every section to a started core, before agent.ts `resume`. */
  apply(k: Kubelet, now: i64): void {
    const ctx = k.ctx;
    ctx.nodeUid = this.uid;
    ctx.identity.bootId = this.bootId;
    // The server's part of the version the Node shows, with this module's own version after it: a new
    // brain shows itself in `kubectl get nodes -o wide` (the status differs, so it is pushed at once).
    const mark = this.kubeletVersion.indexOf(KUBELET_VERSION_MARK);
    if (mark > 0) ctx.identity.kubeletVersion = this.kubeletVersion.substring(0, mark) + KUBELET_VERSION_SUFFIX;
    else ctx.identity.kubeletVersion = this.kubeletVersion;
    if (ctx.identity.kubeletVersion != this.kubeletVersion) k.registration.staticDiffers = true;
    ctx.registrations = this.registrations;
    ctx.clock.resume(now, this.wallMs);
    ctx.renewals = this.renewals;
    ctx.renewFailures = this.renewFailures;
    k.lease.resume(now, this.renewTimeMs);
    ctx.statusPushes = this.pushes;
    k.status.memoryPressure = this.memoryPressure == 1;
    const items = k.status.conds.items;
    k.serving.resumeCsr = this.servingCsr;
    for (let i = 0; i < this.podUids.length; i++) k.pods.resumed.set(this.podUids[i], this.podRecords[i]);
    if (this.brainPod.length > 0 && this.brainDigest.length > 0) {
      const b = k.puller;
      b.committedPod = this.brainPod;
      b.committedImage = this.brainImage;
      b.committedDigest = this.brainDigest;
      b.committedVersion = this.brainVersion;
      b.committedRestarts = <i32>this.brainRestarts;
    }
    for (let i = 0; i < CONDITION_COUNT; i++) {
      const c = items[i];
      c.status = <CStatus>this.statuses[i];
      c.transitionMs = this.since[i];
      c.seen = true;
    }
  }
}

/** A non-negative JSON integer, or -1. */
function num(kind: ValueKind, v: ByteBuffer): i64 {
  if (kind != ValueKind.Number || v.length == 0 || v.length > 18) return -1;
  let n: i64 = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.at(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + <i64>(c - 0x30);
  }
  return n;
}

/** Reads and checks a snapshot document for node `nodeName`. */
export function readSnapshot(p: usize, n: i32, nodeName: string): Snapshot {
  const snap = new Snapshot();
  const scanner = new JsonScanner(FIELDS, snap);
  if (!scanner.feed(p, n) || !scanner.finish()) {
    snap.error = "not JSON (" + scanner.error + ")";
    return snap;
  }
  const why = snap.problem(nodeName);
  if (why.length > 0) snap.error = why.startsWith("format") ? why : "bad or missing " + why;
  return snap;
}
