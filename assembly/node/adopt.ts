/**
 * What an existing Node object says about the things we own, read with the streaming scanner: its uid,
 * and whether its labels, capacity, allocatable, nodeInfo, InternalIP and taints match our configuration.
 * Every comparison is made as the bytes go by, against the configuration, so reading a Node costs no
 * memory beyond the scanner's own, however many labels, conditions or images the server sends.
 */
import { ByteBuffer, bytesEqual } from "../util/bytes";
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";
import { Config, Pair } from "./config";
import { Identity } from "./objects";
import { nodeInfoPairs } from "./objects";

/** Longest uid we accept; the API server's are 36-character UUIDs. */
const MAX_UID = 128;

const F_UID = 0;
const F_LABEL = 1;
const F_CAPACITY = 2;
const F_ALLOCATABLE = 3;
const F_NODE_INFO = 4;
const F_ADDRESS = 5;
const F_ADDRESS_TYPE = 6;
const F_ADDRESS_VALUE = 7;
const F_TAINT = 8;
const F_TAINT_KEY = 9;
const F_TAINT_VALUE = 10;
const F_TAINT_EFFECT = 11;

/** The Node fields the facts are made of (the node informer reads them too, after its own). */
export const FACT_FIELDS: string[] = [
  "metadata.uid", "metadata.labels.*", "status.capacity.*", "status.allocatable.*", "status.nodeInfo.*",
  "status.addresses[]", "status.addresses[].type", "status.addresses[].address",
  "spec.taints[]", "spec.taints[].key", "spec.taints[].value", "spec.taints[].effect",
];

export class NodeFacts extends ScanHandler {
  /** metadata.uid ("" when absent, empty or absurd). */
  uid: string = "";
  /** The whole document was read (a cut body cannot be compared). */
  complete: bool = false;
  /** Each configured label present with our value. */
  labelsMatch: bool = false;
  /** Capacity, allocatable, nodeInfo and the InternalIP match what we report. */
  staticMatches: bool = false;
  /** The Node's own taints (not node.kubernetes.io/…) are exactly the configured ones. */
  taintsMatch: bool = false;

  private labels: u64 = 0;
  private capacity: u64 = 0;
  private allocatable: u64 = 0;
  private info: u64 = 0;
  private ipSeen: bool = false;
  private ipMatches: bool = false;
  /** Addresses listed, and whether each non-InternalIP one is the configured Hostname. */
  private addressCount: i32 = 0;
  private foreignAddress: bool = false;
  private isHostname: bool = false;
  private isInternalIp: bool = false;
  private addressMatches: bool = false;
  private taintsSeen: i32 = 0;
  private taintsForeign: bool = false;
  private taintsFound: u64 = 0;
  private taintKey: ByteBuffer = new ByteBuffer(64, 320);
  private taintValue: ByteBuffer = new ByteBuffer(64, 320);
  private taintEffect: ByteBuffer = new ByteBuffer(16, 32);
  private infoPairs: Pair[];

  constructor(private cfg: Config, private id: Identity) {
    super();
    this.infoPairs = nodeInfoPairs(cfg, id);
  }

  /** Reads `body` (the whole response body, `cut` when it was longer than its budget). */
  read(body: ByteBuffer, cut: bool): void {
    const s = new JsonScanner(FACT_FIELDS, this);
    s.feed(body.ptr, body.length);
    this.conclude(s.finish() && !cut);
  }

  /** Forgets what was read (the informer reads one Node after another). */
  reset(): void {
    this.uid = "";
    this.labels = 0;
    this.capacity = 0;
    this.allocatable = 0;
    this.info = 0;
    this.ipSeen = false;
    this.ipMatches = false;
    this.addressCount = 0;
    this.foreignAddress = false;
    this.taintsSeen = 0;
    this.taintsForeign = false;
    this.taintsFound = 0;
  }

  /** The fields have all gone by: compares them with the configuration. */
  conclude(complete: bool): void {
    this.complete = complete;
    const c = this.cfg;
    this.labelsMatch = this.labels == all(c.labels.length);
    const ipKnown = this.id.ip.length > 0;
    this.staticMatches = this.capacity == all(c.capacity.length) && this.allocatable == all(c.capacity.length) &&
      this.info == all(this.infoPairs.length) && (!ipKnown || this.ipMatches) && !this.foreignAddress &&
      (this.cfg.hostname.length == 0 || this.addressCount == (ipKnown ? 2 : 1));
    this.taintsMatch = !this.taintsForeign && this.taintsSeen == c.taints.length && this.taintsFound == all(c.taints.length);
  }

  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    const str = kind == ValueKind.String && !v.overflow;
    if (field == F_UID) {
      if (str && v.length > 0 && v.length <= MAX_UID && printable(v)) this.uid = v.toString();
    } else if (field == F_LABEL) {
      if (str) this.labels |= matchPair(this.cfg.labels, key, v);
    } else if (field == F_CAPACITY) {
      if (str) this.capacity |= matchPair(this.cfg.capacity, key, v);
    } else if (field == F_ALLOCATABLE) {
      if (str) this.allocatable |= matchPair(this.cfg.capacity, key, v);
    } else if (field == F_NODE_INFO) {
      if (str) this.info |= matchPair(this.infoPairs, key, v);
    } else if (field == F_ADDRESS_TYPE) {
      this.isInternalIp = str && bytesEqual(v, "InternalIP");
      this.isHostname = str && bytesEqual(v, "Hostname");
    } else if (field == F_ADDRESS_VALUE) {
      this.addressMatches = str && bytesEqual(v, this.isHostname ? this.cfg.hostname : this.id.ip);
    } else if (field == F_TAINT_KEY) {
      copy(this.taintKey, v);
    } else if (field == F_TAINT_VALUE) {
      copy(this.taintValue, v);
    } else if (field == F_TAINT_EFFECT) {
      copy(this.taintEffect, v);
    }
  }

  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    if (field == F_ADDRESS) {
      this.isInternalIp = false;
      this.isHostname = false;
      this.addressMatches = false;
    } else if (field == F_TAINT) {
      this.taintKey.clear();
      this.taintValue.clear();
      this.taintEffect.clear();
    }
  }

  end(field: i32): void {
    if (field == F_ADDRESS) {
      // The first InternalIP counts, as the API server's consumers read it.
      this.addressCount++;
      if (this.isInternalIp && !this.ipSeen) {
        this.ipSeen = true;
        this.ipMatches = this.addressMatches;
      } else if (!this.isHostname || !this.addressMatches || this.cfg.hostname.length == 0) {
        // An address we do not report (a Hostname from an older picokubelet, or someone else's): replace them.
        this.foreignAddress = true;
      }
    } else if (field == F_TAINT) {
      // Taints the control plane manages (node.kubernetes.io/…) are not ours to compare.
      if (startsWith(this.taintKey, "node.kubernetes.io/")) return;
      this.taintsSeen++;
      const want = this.cfg.taints;
      let found = false;
      for (let i = 0; i < want.length && i < 64; i++) {
        const t = want[i];
        if (bytesEqual(this.taintKey, t.key) && bytesEqual(this.taintValue, t.value) && bytesEqual(this.taintEffect, t.effect)) {
          this.taintsFound |= (<u64>1) << (<u64>i);
          found = true;
        }
      }
      if (!found) this.taintsForeign = true;
    }
  }
}

/** Bit i set when `key` is pair i's key and `v` its value (at most 64 pairs are compared). */
function matchPair(pairs: Pair[], key: ByteBuffer, v: ByteBuffer): u64 {
  for (let i = 0; i < pairs.length && i < 64; i++) {
    const p = unchecked(pairs[i]);
    if (bytesEqual(key, p.key)) return bytesEqual(v, p.value) ? (<u64>1) << (<u64>i) : 0;
  }
  return 0;
}

/** The mask with the low n bits set (n ≤ 64). */
function all(n: i32): u64 {
  const m = n > 64 ? 64 : n;
  return m == 64 ? <u64>-1 : ((<u64>1) << (<u64>m)) - 1;
}

function copy(dst: ByteBuffer, src: ByteBuffer): void {
  dst.clear();
  if (!src.overflow) dst.append(src);
}

function startsWith(b: ByteBuffer, prefix: string): bool {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b.at(i) != prefix.charCodeAt(i)) return false;
  return true;
}

/** Visible ASCII only: a uid goes into request bodies and log lines. */
function printable(b: ByteBuffer): bool {
  for (let i = 0; i < b.length; i++) {
    const c = b.at(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}
