/**
 * The configuration document a host gives the core at start (ABI.md, "Configuration document").
 *
 * Everything is validated before anything is sent: a bad document yields one clear message per problem
 * and the core stays in PHASE_FAILED. Unknown keys are refused, so a typo cannot silently fall back to a
 * default. Values that end up in request paths, headers or bodies are checked against the grammar of
 * the place they go (RFC 1123 names, label syntax, header-safe tokens).
 */
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";
import { ByteBuffer, visibleAscii, withoutControls } from "../util/bytes";
import { LogLevel } from "../abi/codes";
import {
  EVALUATE_INTERVAL_MS, LEASE_DURATION_SECONDS, MEMORY_PRESSURE_BYTES, MEMORY_PRESSURE_HYSTERESIS_BYTES,
  RENEW_INTERVAL_MS, REQUEST_TIMEOUT_MS, STATUS_INTERVAL_MS,
} from "./defaults";

/** One key=value pair (labels, capacity). */
export class Pair {
  constructor(public key: string, public value: string) {}
}

/** A taint registered at creation. */
export class Taint {
  constructor(public key: string, public value: string, public effect: string) {}
}

/** The validated configuration. */
export class Config {
  nodeName: string = "";
  apiHost: string = "";
  apiPort: i32 = 6443;
  serverName: string = "";
  token: string = "";
  /** A bootstrap token (`<id>.<secret>`) for TLS bootstrap of the client certificate ("": none). */
  bootstrapToken: string = "";
  mac: string = "";
  labels: Pair[] = [];
  taints: Taint[] = [];
  capacity: Pair[] = [];
  kubeletPort: i32 = 0;
  kernelVersion: string = "wasm3";
  osImage: string = "picokubelet on bare metal";
  /** A DNS name the node is reachable by, reported as its Hostname address ("": none is reported). */
  hostname: string = "";
  leaseDurationSeconds: i32 = LEASE_DURATION_SECONDS;
  renewIntervalMs: i64 = RENEW_INTERVAL_MS;
  statusIntervalMs: i64 = STATUS_INTERVAL_MS;
  evaluateIntervalMs: i64 = EVALUATE_INTERVAL_MS;
  requestTimeoutMs: i64 = REQUEST_TIMEOUT_MS;
  memoryPressureBytes: i64 = MEMORY_PRESSURE_BYTES;
  memoryPressureHysteresisBytes: i64 = MEMORY_PRESSURE_HYSTERESIS_BYTES;
  /** 0: use the host's reported total. */
  heapTotalBytes: i64 = 0;
  /** Accepted connections on the kubelet port served at once; more are closed at once. */
  maxServerConnections: i32 = 4;
  logLevel: LogLevel = LogLevel.Info;
  /** What the node does with pods of DaemonSets (they tolerate every taint): `play` them or `refuse` them. */
  daemonSetPods: string = "play";
  /**
   * The namespaces whose brain pods (runtimeClassName picokubelet-brain, docs/brain.md) this node honours;
   * a brain pod from anywhere else is refused. `[]` honours none.
   */
  brainNamespaces: string[] = [DEFAULT_BRAIN_NAMESPACE];
  /** One message per problem found; empty when valid. */
  errors: string[] = [];

  /** Sets a label, replacing an earlier value of the same key in place. */
  setLabel(key: string, value: string): void {
    setPair(this.labels, key, value);
  }
}

/** Where brain pods come from unless the configuration says otherwise. */
export const DEFAULT_BRAIN_NAMESPACE = "picokubelet-system";
/** Most namespaces `brainNamespaces` may name (each one is a string kept for the node's lifetime). */
export const MAX_BRAIN_NAMESPACES = 8;

/** Default node labels, in the original firmware's order (docs/behaviour.md, labels). */
function defaultLabels(c: Config): void {
  c.setLabel("kubernetes.io/hostname", c.nodeName);
  c.setLabel("kubernetes.io/arch", "xtensa-lx7");
  c.setLabel("kubernetes.io/os", "no_std");
  c.setLabel("node.kubernetes.io/instance-type", "esp32-s3-r8");
  c.setLabel("hardware", "esp32-s3");
  c.setLabel("arch", "xtensa-lx7");
  c.setLabel("node.specht.dev/cursed", "true");
}

const F_TOP = 0;
const F_LABEL = 1;
const F_TAINT = 2;
const F_TAINT_KEY = 3;
const F_TAINT_VALUE = 4;
const F_TAINT_EFFECT = 5;
const F_CAPACITY = 6;
const F_BRAIN_NS = 7;
const FIELDS: string[] = ["*", "labels.*", "taints[]", "taints[].key", "taints[].value", "taints[].effect", "capacity.*", "brainNamespaces[]"];

const BRAIN_NS_ERROR = "config: 'brainNamespaces' must be an array of namespace names (lowercase RFC 1123 labels), e.g. [\"picokubelet-system\"]";

/**
 * Reads the document with the streaming scanner: every top-level member, the labels, the taints and the
 * capacity. Values are checked against their key's type as they arrive.
 */
class ConfigReader extends ScanHandler {
  sawTaints: bool = false;
  sawCapacity: bool = false;
  labels: Pair[] = [];
  badLabels: string[] = [];
  private taint: Taint = new Taint("", "", "");
  private taintOk: bool = false;
  private taintIndex: i32 = 0;
  private taintsArray: bool = false;
  private capacityObject: bool = false;
  private labelsObject: bool = false;
  private brainArray: bool = false;

  constructor(private c: Config) {
    super();
  }

  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    const c = this.c;
    if (field == F_TOP) {
      const k = key.toString();
      if (k == "labels") {
        this.labelsObject = kind == ValueKind.Object;
        if (!this.labelsObject) c.errors.push("config: 'labels' must be an object of strings");
      } else if (k == "taints") {
        this.sawTaints = true;
        this.taintsArray = kind == ValueKind.Array;
        if (!this.taintsArray) c.errors.push("config: 'taints' must be an array");
      } else if (k == "capacity") {
        this.sawCapacity = true;
        this.capacityObject = kind == ValueKind.Object;
        if (!this.capacityObject) c.errors.push("config: 'capacity' must be an object of quantity strings");
      } else if (k == "brainNamespaces") {
        // A list given replaces the default, so [] trusts no namespace.
        this.brainArray = kind == ValueKind.Array;
        c.brainNamespaces = [];
        if (!this.brainArray) c.errors.push(BRAIN_NS_ERROR);
      } else this.scalarKey(k, kind, null);
    } else if (field == F_TAINT) {
      this.taint = new Taint("", "", "");
      this.taintOk = kind == ValueKind.Object;
    } else if (field == F_BRAIN_NS && this.brainArray) {
      // An object or array where a namespace name belongs.
      c.errors.push(BRAIN_NS_ERROR);
    }
  }

  end(field: i32): void {
    if (field != F_TAINT || !this.taintsArray) return;
    const t = this.taint;
    const i = this.taintIndex++;
    const c = this.c;
    if (!this.taintOk || !isQualifiedName(t.key) || !isLabelValue(t.value)) {
      c.errors.push("config: taint " + i.toString() + " needs a valid 'key' (and optional 'value')");
    } else if (t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute") {
      c.errors.push("config: taint '" + t.key + "' needs 'effect' NoSchedule, PreferNoSchedule or NoExecute");
    } else {
      c.taints.push(t);
    }
  }

  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    const c = this.c;
    if (field == F_TOP) {
      this.scalarKey(key.toString(), kind, v);
    } else if (field == F_LABEL) {
      if (!this.labelsObject) return;
      const k = key.toString();
      if (kind != ValueKind.String) c.errors.push("config: label '" + printable(k) + "' must be a string");
      else this.labels.push(new Pair(k, v.toString()));
    } else if (field == F_TAINT) {
      // A taint that is not an object.
      if (this.taintsArray) c.errors.push("config: taint " + (this.taintIndex++).toString() + " needs a valid 'key' (and optional 'value')");
    } else if (field == F_TAINT_KEY || field == F_TAINT_VALUE || field == F_TAINT_EFFECT) {
      const s = kind == ValueKind.String ? v.toString() : "\u0000";
      if (field == F_TAINT_KEY) this.taint.key = s;
      else if (field == F_TAINT_VALUE) this.taint.value = s;
      else this.taint.effect = s;
    } else if (field == F_CAPACITY) {
      if (!this.capacityObject) return;
      const k = key.toString();
      const q = kind == ValueKind.String ? v.toString() : "";
      if (!isQualifiedName(k) || kind != ValueKind.String || !isQuantity(q)) {
        c.errors.push("config: capacity '" + printable(k) + "' must be a quantity string such as \"240m\" or \"320Ki\"");
      } else {
        setPair(c.capacity, k, q);
      }
    } else if (field == F_BRAIN_NS) {
      if (!this.brainArray) return;
      const ns = kind == ValueKind.String ? v.toString() : "";
      if (!isDnsLabel(ns)) c.errors.push(BRAIN_NS_ERROR);
      else if (c.brainNamespaces.length >= MAX_BRAIN_NAMESPACES) {
        c.errors.push("config: 'brainNamespaces' names at most " + MAX_BRAIN_NAMESPACES.toString() + " namespaces");
        this.brainArray = false;
      } else if (!c.brainNamespaces.includes(ns)) c.brainNamespaces.push(ns);
    }
  }

  /** A top-level member; `v` is null when its value is an object or array. */
  private scalarKey(k: string, kind: ValueKind, v: ByteBuffer | null): void {
    const c = this.c;
    if (k == "nodeName") c.nodeName = str(c, k, kind, v);
    else if (k == "apiHost") c.apiHost = str(c, k, kind, v);
    else if (k == "apiPort") c.apiPort = <i32>int(c, k, kind, v, 1, 65535);
    else if (k == "serverName") c.serverName = str(c, k, kind, v);
    else if (k == "token") c.token = str(c, k, kind, v);
    else if (k == "bootstrapToken") c.bootstrapToken = str(c, k, kind, v);
    else if (k == "mac") c.mac = str(c, k, kind, v);
    else if (k == "kubeletPort") c.kubeletPort = <i32>int(c, k, kind, v, 0, 65535);
    else if (k == "kernelVersion") c.kernelVersion = str(c, k, kind, v);
    else if (k == "osImage") c.osImage = str(c, k, kind, v);
    else if (k == "hostname") c.hostname = str(c, k, kind, v);
    else if (k == "leaseDurationSeconds") c.leaseDurationSeconds = <i32>int(c, k, kind, v, 1, 3600);
    else if (k == "renewIntervalMs") c.renewIntervalMs = int(c, k, kind, v, 100, 3_600_000);
    else if (k == "statusIntervalMs") c.statusIntervalMs = int(c, k, kind, v, 1000, 86_400_000);
    else if (k == "evaluateIntervalMs") c.evaluateIntervalMs = int(c, k, kind, v, 100, 3_600_000);
    else if (k == "requestTimeoutMs") c.requestTimeoutMs = int(c, k, kind, v, 100, 600_000);
    else if (k == "memoryPressureBytes") c.memoryPressureBytes = int(c, k, kind, v, 0, 0x7fffffff);
    else if (k == "memoryPressureHysteresisBytes") c.memoryPressureHysteresisBytes = int(c, k, kind, v, 0, 0x7fffffff);
    else if (k == "heapTotalBytes") c.heapTotalBytes = int(c, k, kind, v, 0, 0x7fffffff);
    else if (k == "maxServerConnections") c.maxServerConnections = <i32>int(c, k, kind, v, 0, 64);
    else if (k == "logLevel") c.logLevel = parseLevel(c, str(c, k, kind, v));
    else if (k == "daemonSetPods") {
      c.daemonSetPods = str(c, k, kind, v);
      if (c.daemonSetPods != "play" && c.daemonSetPods != "refuse") c.errors.push("config: 'daemonSetPods' must be play or refuse");
    } else if (k == "brainNamespaces") {
      c.brainNamespaces = [];
      c.errors.push(BRAIN_NS_ERROR);
    } else if (k == "labels") c.errors.push("config: 'labels' must be an object of strings");
    else if (k == "taints") {
      this.sawTaints = true;
      c.errors.push("config: 'taints' must be an array");
    } else if (k == "capacity") {
      this.sawCapacity = true;
      c.errors.push("config: 'capacity' must be an object of quantity strings");
    } else c.errors.push("config: unknown key '" + printable(k) + "'");
  }
}

/** Parses and validates a configuration document. Check `errors` on the result. */
export function parseConfig(ptr: usize, len: i32): Config {
  const c = new Config();
  const reader = new ConfigReader(c);
  const scanner = new JsonScanner(FIELDS, reader);
  scanner.feed(ptr, len);
  if (!scanner.finish()) {
    c.errors.length = 0;
    c.errors.push("config: not valid JSON: " + scanner.error);
    return c;
  }
  if (firstByte(ptr, len) != 0x7b) {
    c.errors.length = 0;
    c.errors.push("config: the document must be a JSON object");
    return c;
  }
  validate(c);
  if (c.errors.length > 0) return c;
  defaultLabels(c);
  for (let i = 0; i < reader.labels.length; i++) {
    const l = reader.labels[i];
    if (!isQualifiedName(l.key)) c.errors.push("config: '" + printable(l.key) + "' is not a valid label key");
    else if (!isLabelValue(l.value)) c.errors.push("config: label '" + l.key + "' has an invalid value");
    else c.setLabel(l.key, l.value);
  }
  if (!reader.sawTaints) c.taints.push(new Taint("picokubelet.dev/no-containers", "true", "NoSchedule"));
  if (!reader.sawCapacity) {
    c.capacity.push(new Pair("cpu", "240m"));
    c.capacity.push(new Pair("memory", "320Ki"));
    c.capacity.push(new Pair("pods", "1"));
  }
  if (c.serverName.length == 0) c.serverName = c.apiHost;
  // A request must end within one renew period, so a renewal is never held up longer than that.
  if (c.requestTimeoutMs > c.renewIntervalMs) c.requestTimeoutMs = c.renewIntervalMs;
  return c;
}

/** The first byte that is not whitespace, or -1. */
function firstByte(p: usize, n: i32): i32 {
  for (let i = 0; i < n; i++) {
    const b = <i32>load<u8>(p + <usize>i);
    if (b != 0x20 && b != 0x0a && b != 0x0d && b != 0x09) return b;
  }
  return -1;
}

function validate(c: Config): void {
  if (c.hostname.length > 0 && !isSubdomain(c.hostname)) {
    c.errors.push("config: 'hostname' must be a DNS name (lowercase RFC 1123), got '" + printable(c.hostname) + "'");
  }
  if (c.nodeName.length == 0) c.errors.push("config: 'nodeName' is required");
  else if (!isSubdomain(c.nodeName)) {
    c.errors.push(
      "config: 'nodeName' must be a lowercase RFC 1123 name (a-z, 0-9, '-', '.'; at most 253 characters), got '" +
        printable(c.nodeName) + "'",
    );
  }
  if (c.apiHost.length == 0) c.errors.push("config: 'apiHost' is required");
  else if (!isHostToken(c.apiHost)) c.errors.push("config: 'apiHost' is not a host name or IP literal");
  if (c.serverName.length > 0 && !isHostToken(c.serverName)) {
    c.errors.push("config: 'serverName' is not a host name or IP literal");
  }
  if (c.token.length > 0 && !isTokenSafe(c.token)) {
    // Never echo the token itself.
    c.errors.push("config: 'token' must be printable ASCII without spaces, at most 8192 bytes");
  }
  if (c.bootstrapToken.length > 0 && !isBootstrapToken(c.bootstrapToken)) {
    c.errors.push("config: 'bootstrapToken' must be a bootstrap token: 6 and 16 characters a-z0-9 joined by '.'");
  }
  if (c.bootstrapToken.length > 0 && c.token.length > 0) {
    c.errors.push("config: 'token' and 'bootstrapToken' exclude each other (a bootstrap token only gets the node its client certificate)");
  }
  if (c.mac.length > 0 && !isMac(c.mac)) c.errors.push("config: 'mac' must look like aa:bb:cc:dd:ee:ff");
  if (<i64>c.leaseDurationSeconds * 1000 <= c.renewIntervalMs) {
    c.errors.push("config: 'renewIntervalMs' must be shorter than 'leaseDurationSeconds'");
  }
  if (!isFreeText(c.kernelVersion) || !isFreeText(c.osImage)) {
    c.errors.push("config: 'kernelVersion' and 'osImage' must be printable, at most 256 characters");
  }
}

function str(c: Config, k: string, kind: ValueKind, v: ByteBuffer | null): string {
  if (v === null || kind != ValueKind.String) {
    c.errors.push("config: '" + k + "' must be a string");
    return "";
  }
  return v.toString();
}

function int(c: Config, k: string, kind: ValueKind, v: ByteBuffer | null, min: i64, max: i64): i64 {
  const n = v !== null && kind == ValueKind.Number ? integer(v) : I64.MIN_VALUE;
  if (n == I64.MIN_VALUE || n < min || n > max) {
    c.errors.push("config: '" + k + "' must be an integer from " + min.toString() + " to " + max.toString());
    return min;
  }
  return n;
}

/** A JSON number without fraction or exponent, at most 15 digits; I64.MIN_VALUE otherwise. */
function integer(v: ByteBuffer): i64 {
  const n = v.length;
  const neg = n > 0 && v.at(0) == 0x2d;
  const start = neg ? 1 : 0;
  if (n - start == 0 || n - start > 15) return I64.MIN_VALUE;
  let x: i64 = 0;
  for (let i = start; i < n; i++) {
    const d = v.at(i);
    if (d < 0x30 || d > 0x39) return I64.MIN_VALUE;
    x = x * 10 + <i64>(d - 0x30);
  }
  return neg ? -x : x;
}

function parseLevel(c: Config, s: string): LogLevel {
  if (s == "error") return LogLevel.Error;
  if (s == "warn") return LogLevel.Warn;
  if (s == "info") return LogLevel.Info;
  if (s == "debug") return LogLevel.Debug;
  c.errors.push("config: 'logLevel' must be error, warn, info or debug");
  return LogLevel.Info;
}

function setPair(list: Pair[], key: string, value: string): void {
  for (let i = 0; i < list.length; i++) {
    if (list[i].key == key) {
      list[i].value = value;
      return;
    }
  }
  list.push(new Pair(key, value));
}

@inline function isAlnumLower(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
}

/** RFC 1123 subdomain: lowercase labels of [a-z0-9-] joined by dots, alphanumeric at both ends. */
export function isSubdomain(s: string): bool {
  const n = s.length;
  if (n == 0 || n > 253) return false;
  let labelLen = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x2e) {
      if (labelLen == 0 || s.charCodeAt(i - 1) == 0x2d) return false;
      labelLen = 0;
      continue;
    }
    if (c == 0x2d) {
      if (labelLen == 0) return false;
    } else if (!isAlnumLower(c)) return false;
    labelLen++;
    if (labelLen > 63) return false;
  }
  return labelLen > 0 && s.charCodeAt(n - 1) != 0x2d;
}

/** RFC 1123 label (a namespace name): at most 63 of [a-z0-9-], alphanumeric at both ends. */
export function isDnsLabel(s: string): bool {
  return s.length <= 63 && s.indexOf(".") < 0 && isSubdomain(s);
}

/** A label/annotation/taint key: [prefix/]name (Kubernetes qualified name). */
export function isQualifiedName(s: string): bool {
  const slash = s.indexOf("/");
  let name = s;
  if (slash >= 0) {
    if (!isSubdomain(s.substring(0, slash))) return false;
    name = s.substring(slash + 1);
  }
  return name.length > 0 && isLabelValue(name);
}

/** A label value: empty, or up to 63 of [A-Za-z0-9-_.] with alphanumerics at both ends. */
export function isLabelValue(s: string): bool {
  const n = s.length;
  if (n == 0) return true;
  if (n > 63) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!alnum && (i == 0 || i == n - 1 || (c != 0x2d && c != 0x5f && c != 0x2e))) return false;
  }
  return true;
}

/** A resource quantity's characters: digits, a sign, a decimal point, an exponent or suffix letters. */
function isQuantity(s: string): bool {
  const n = s.length;
  if (n == 0 || n > 32) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      c == 0x2e || c == 0x2b || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

/** A host for the Host header and the TLS server name: no whitespace, controls, '/', '@' or '#'. */
function isHostToken(s: string): bool {
  const n = s.length;
  if (n == 0 || n > 253) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c == 0x2f || c == 0x40 || c == 0x23 || c == 0x3f) return false;
  }
  return true;
}

/** A bearer token that can go in a header: visible ASCII only. */
function isTokenSafe(s: string): bool {
  return s.length <= 8192 && visibleAscii(s);
}

/** `[a-z0-9]{6}.[a-z0-9]{16}`: the form the API server's bootstrap token authenticator accepts. */
function isBootstrapToken(s: string): bool {
  if (s.length != 23) return false;
  for (let i = 0; i < 23; i++) {
    const c = s.charCodeAt(i);
    if (i == 6) {
      if (c != 0x2e) return false;
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a))) return false;
  }
  return true;
}

function isMac(s: string): bool {
  if (s.length != 17) return false;
  for (let i = 0; i < 17; i++) {
    const c = s.charCodeAt(i);
    if (i % 3 == 2) {
      if (c != 0x3a && c != 0x2d) return false;
    } else {
      const l = c | 0x20;
      if (!((c >= 0x30 && c <= 0x39) || (l >= 0x61 && l <= 0x66))) return false;
    }
  }
  return true;
}

function isFreeText(s: string): bool {
  if (s.length > 256) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return false;
  return true;
}

/** The first 64 characters of `s` with controls replaced, for error messages. */
function printable(s: string): string {
  const out = withoutControls(s, 64, 0x3f);
  return s.length > 64 ? out + "..." : out;
}
