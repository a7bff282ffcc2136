/**
 * The snapshot of a brain swap (ABI.md "Snapshot"): what a new core instance needs to carry on as this
 * one without the cluster seeing a reboot. Same boot ID, same Node uid, the Lease renewed where this one
 * left it, the wall clock anchored, condition transition times and counters kept.
 *
 * Format: one JSON object (at most SNAPSHOT_MAX_BYTES), written with the streaming writer and read with the
 * streaming scanner. `picokubeletSnapshot` is the format version; every other member is one component's
 * section. A component adds its state by adding a Section (and a row to SECTIONS): a name, the fields it
 * reads (relative to its section), how it writes them and how it checks and applies what it read. Unknown
 * members are ignored, so a section a later core adds does not break an older reader; a missing or
 * malformed required field refuses the whole snapshot with one line that says which.
 */
import { ByteBuffer } from "../util/bytes";
import { JsonWriter } from "../json/writer";
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";
import { MIN_DATE_SECS, MAX_DATE_SECS } from "../util/clock";
import { SNAPSHOT_MAX_BYTES } from "../abi/codes";
import { CONDITION_COUNT, CStatus, conditionType } from "../node/conditions";
import { Kubelet } from "./agent";

/** The format version written; readers refuse any other. */
export const SNAPSHOT_FORMAT: i64 = 1;

/** One component's part of the snapshot. */
export abstract class Section {
  /** The member name of the section. */
  abstract get name(): string;
  /** Field paths inside the section (scanner syntax, without the section name). */
  abstract get fields(): string[];
  /** Writes the section's members (the writer is inside the section's object). */
  abstract write(w: JsonWriter, k: Kubelet, now: i64): void;
  /** A field of the section; `field` indexes `fields`. */
  abstract value(field: i32, kind: ValueKind, v: ByteBuffer): void;
  /** A container field ended (array elements of object type). */
  end(field: i32): void {}
  /** After reading: "" when usable, else why not. */
  abstract check(nodeName: string): string;
  /** Applies what was read to a started, not yet running core. */
  abstract apply(k: Kubelet, now: i64): void;
}

function num(kind: ValueKind, v: ByteBuffer): i64 {
  if (kind != ValueKind.Number) return -1;
  let n: i64 = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.at(i);
    if (c < 0x30 || c > 0x39 || i >= 18) return -1;
    n = n * 10 + <i64>(c - 0x30);
  }
  return v.length > 0 ? n : -1;
}

function text(kind: ValueKind, v: ByteBuffer): string {
  return kind == ValueKind.String ? v.toString() : "";
}

/** Node identity: name (must match the configuration), uid, boot ID, kubeletVersion, registrations. */
class NodeSection extends Section {
  get name(): string { return "node"; }
  get fields(): string[] { return ["name", "uid", "bootId", "kubeletVersion", "registrations"]; }
  nodeName: string = "";
  uid: string = "";
  bootId: string = "";
  kubeletVersion: string = "";
  registrations: i64 = -1;

  write(w: JsonWriter, k: Kubelet, now: i64): void {
    const ctx = k.ctx;
    w.field("name", ctx.cfg.nodeName).field("uid", ctx.nodeUid).field("bootId", ctx.identity.bootId);
    w.field("kubeletVersion", ctx.identity.kubeletVersion).fieldInt("registrations", ctx.registrations);
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer): void {
    if (field == 0) this.nodeName = text(kind, v);
    else if (field == 1) this.uid = text(kind, v);
    else if (field == 2) this.bootId = text(kind, v);
    else if (field == 3) this.kubeletVersion = text(kind, v);
    else this.registrations = num(kind, v);
  }
  check(nodeName: string): string {
    if (this.nodeName != nodeName) return "node.name is not this node's name (" + nodeName + ")";
    if (this.uid.length == 0 || this.uid.length > 64) return "node.uid missing";
    if (this.bootId.length != 36) return "node.bootId is not a UUID";
    if (this.kubeletVersion.length == 0 || this.kubeletVersion.length > 128) return "node.kubeletVersion missing";
    if (this.registrations < 1) return "node.registrations missing";
    return "";
  }
  apply(k: Kubelet, now: i64): void {
    const ctx = k.ctx;
    ctx.nodeUid = this.uid;
    ctx.identity.bootId = this.bootId;
    ctx.identity.kubeletVersion = this.kubeletVersion;
    ctx.registrations = this.registrations;
  }
}

/** The wall clock at the moment of the snapshot (the next Date header refines it). */
class ClockSection extends Section {
  get name(): string { return "clock"; }
  get fields(): string[] { return ["wallMs"]; }
  wallMs: i64 = -1;

  write(w: JsonWriter, k: Kubelet, now: i64): void {
    w.fieldInt("wallMs", k.ctx.clock.wallMs(now));
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer): void {
    this.wallMs = num(kind, v);
  }
  check(nodeName: string): string {
    return this.wallMs < MIN_DATE_SECS * 1000 || this.wallMs >= MAX_DATE_SECS * 1000 ? "clock.wallMs missing or absurd" : "";
  }
  apply(k: Kubelet, now: i64): void {
    k.ctx.clock.resume(now, this.wallMs);
  }
}

/** The Lease: the last renewTime written (it must never go backwards) and the counters. */
class LeaseSection extends Section {
  get name(): string { return "lease"; }
  get fields(): string[] { return ["renewTimeMs", "renewals", "renewFailures"]; }
  renewTimeMs: i64 = -1;
  renewals: i64 = -1;
  renewFailures: i64 = -1;

  write(w: JsonWriter, k: Kubelet, now: i64): void {
    w.fieldInt("renewTimeMs", k.lease.renewTimeMs).fieldInt("renewals", k.ctx.renewals).fieldInt("renewFailures", k.ctx.renewFailures);
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer): void {
    const n = num(kind, v);
    if (field == 0) this.renewTimeMs = n;
    else if (field == 1) this.renewals = n;
    else this.renewFailures = n;
  }
  check(nodeName: string): string {
    if (this.renewTimeMs < 0) return "lease.renewTimeMs missing";
    if (this.renewals < 0 || this.renewFailures < 0) return "lease counters missing";
    return "";
  }
  apply(k: Kubelet, now: i64): void {
    k.ctx.renewals = this.renewals;
    k.ctx.renewFailures = this.renewFailures;
    k.lease.resume(now, this.renewTimeMs);
  }
}

/** Conditions (status and transition time, by type), MemoryPressure's hysteresis state, the push count. */
class StatusSection extends Section {
  get name(): string { return "status"; }
  get fields(): string[] { return ["pushes", "memoryPressure", "conditions[]", "conditions[].type", "conditions[].status", "conditions[].since"]; }
  pushes: i64 = -1;
  memoryPressure: i32 = -1;
  statuses: StaticArray<i32> = new StaticArray<i32>(CONDITION_COUNT);
  since: StaticArray<i64> = new StaticArray<i64>(CONDITION_COUNT);
  seen: i32 = 0;
  bad: string = "";
  private type: i32 = -1;
  private status: i32 = -1;
  private at: i64 = -1;

  write(w: JsonWriter, k: Kubelet, now: i64): void {
    w.fieldInt("pushes", k.ctx.statusPushes).key("memoryPressure").bool(k.status.memoryPressure);
    w.key("conditions").beginArray();
    const items = k.status.conds.items;
    for (let i = 0; i < CONDITION_COUNT; i++) {
      const c = items[i];
      w.beginObject().field("type", conditionType(i)).fieldInt("status", <i64>c.status).fieldInt("since", c.transitionMs).endObject();
    }
    w.endArray();
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer): void {
    if (field == 0) this.pushes = num(kind, v);
    else if (field == 1) this.memoryPressure = kind == ValueKind.True ? 1 : kind == ValueKind.False ? 0 : -1;
    else if (field == 3) {
      const t = text(kind, v);
      this.type = -1;
      for (let i = 0; i < CONDITION_COUNT; i++) if (conditionType(i) == t) this.type = i;
    } else if (field == 4) this.status = <i32>num(kind, v);
    else if (field == 5) this.at = num(kind, v);
  }
  end(field: i32): void {
    if (field != 2) return;
    if (this.type < 0 || this.status < CStatus.True || this.status > CStatus.Unknown || this.at < 0) {
      this.bad = "status.conditions has a malformed entry";
    } else if ((this.seen & (1 << this.type)) == 0) {
      this.seen |= 1 << this.type;
      this.statuses[this.type] = this.status;
      this.since[this.type] = this.at;
    }
    this.type = -1;
    this.status = -1;
    this.at = -1;
  }
  check(nodeName: string): string {
    if (this.bad.length > 0) return this.bad;
    if (this.pushes < 0 || this.memoryPressure < 0) return "status.pushes or status.memoryPressure missing";
    if (this.seen != (1 << CONDITION_COUNT) - 1) return "status.conditions does not list every condition";
    return "";
  }
  apply(k: Kubelet, now: i64): void {
    k.ctx.statusPushes = this.pushes;
    k.status.memoryPressure = this.memoryPressure == 1;
    const items = k.status.conds.items;
    for (let i = 0; i < CONDITION_COUNT; i++) {
      const c = items[i];
      c.status = <CStatus>this.statuses[i];
      c.transitionMs = this.since[i];
      c.seen = true;
    }
  }
}

/** The sections, in the order they are written. Add a component's section here. */
function sections(): Section[] {
  return [new NodeSection(), new ClockSection(), new LeaseSection(), new StatusSection()];
}

/** Serialises a running core's state into `out` (cleared first); false when it does not fit. */
export function writeSnapshot(out: ByteBuffer, k: Kubelet, now: i64): bool {
  out.clear();
  const w = new JsonWriter(out);
  w.beginObject().fieldInt("picokubeletSnapshot", SNAPSHOT_FORMAT);
  const list = sections();
  for (let i = 0; i < list.length; i++) {
    const s = list[i];
    w.key(s.name).beginObject();
    s.write(w, k, now);
    w.endObject();
  }
  w.endObject();
  return !out.overflow && out.length <= SNAPSHOT_MAX_BYTES;
}

/** Routes scanner fields to their sections. */
class SnapshotReader extends ScanHandler {
  version: i64 = -1;
  owner: i32[] = [];
  local: i32[] = [];
  constructor(public list: Section[]) {
    super();
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (field == 0) {
      this.version = num(kind, v);
      return;
    }
    this.list[this.owner[field]].value(this.local[field], kind, v);
  }
  end(field: i32): void {
    if (field > 0) this.list[this.owner[field]].end(this.local[field]);
  }
}

/** The parsed snapshot, ready to apply; `error` says why it cannot be used ("" when it can). */
export class Snapshot {
  error: string = "";
  constructor(private list: Section[]) {}

  /** Applies every section to a started core, before agent.ts `resume`. */
  apply(k: Kubelet, now: i64): void {
    for (let i = 0; i < this.list.length; i++) this.list[i].apply(k, now);
  }
}

/** Reads and checks a snapshot document for node `nodeName`. */
export function readSnapshot(p: usize, n: i32, nodeName: string): Snapshot {
  const list = sections();
  const snap = new Snapshot(list);
  const paths: string[] = ["picokubeletSnapshot"];
  const reader = new SnapshotReader(list);
  reader.owner.push(-1);
  reader.local.push(-1);
  for (let i = 0; i < list.length; i++) {
    const f = list[i].fields;
    for (let j = 0; j < f.length; j++) {
      paths.push(list[i].name + "." + f[j]);
      reader.owner.push(i);
      reader.local.push(j);
    }
  }
  const scanner = new JsonScanner(paths, reader);
  if (!scanner.feed(p, n) || !scanner.finish()) {
    snap.error = "not JSON (" + scanner.error + ")";
    return snap;
  }
  if (reader.version != SNAPSHOT_FORMAT) {
    snap.error = "picokubeletSnapshot format " + reader.version.toString() + " is not " + SNAPSHOT_FORMAT.toString();
    return snap;
  }
  for (let i = 0; i < list.length; i++) {
    const why = list[i].check(nodeName);
    if (why.length > 0) {
      snap.error = why;
      return snap;
    }
  }
  return snap;
}
