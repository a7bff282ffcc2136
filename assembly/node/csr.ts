/**
 * The certificates.k8s.io/v1 CertificateSigningRequest on the wire: the object a certificate manager
 * POSTs, and what it reads back from a POST or GET (the server-chosen name, the issued certificate, an
 * Approved, Denied or Failed condition). Everything read is bounded: a certificate longer than
 * CERT_B64_MAX is refused, a condition's words are cut, a name that could not be ours is refused.
 */
import { ByteBuffer } from "../util/bytes";
import { JsonWriter } from "../json/writer";
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";

/** The collection path. */
export const CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
/** Longest status.certificate kept (base64 of a PEM chain; an ECDSA leaf and its CA are about 2 KiB). */
export const CERT_B64_MAX = 16 * 1024;
/** Longest PEM chain once decoded. */
export const CERT_PEM_MAX = (CERT_B64_MAX / 4) * 3;

/**
 * `POST …/certificatesigningrequests` body: a generated name, the PEM request as base64, signer and usages,
 * and, when above 0, the lifetime asked for (`expirationSeconds`; the signer honours at least 600).
 */
export function csrBody(out: ByteBuffer, requestB64: ByteBuffer, signer: string, usages: string[], expirationSeconds: i64 = 0): void {
  const w = new JsonWriter(out);
  w.beginObject().field("apiVersion", "certificates.k8s.io/v1").field("kind", "CertificateSigningRequest");
  w.key("metadata").beginObject().field("generateName", "csr-").endObject();
  w.key("spec").beginObject().key("request");
  // Base64 needs no JSON escaping.
  const raw = w.rawValue();
  raw.byte(0x22);
  raw.append(requestB64);
  raw.byte(0x22);
  w.field("signerName", signer);
  if (expirationSeconds > 0) w.fieldInt("expirationSeconds", expirationSeconds);
  w.key("usages").beginArray();
  for (let i = 0; i < usages.length; i++) w.string(usages[i]);
  w.endArray().endObject().endObject();
}

const F_NAME = 0;
const F_CERT = 1;
const F_COND = 2;
const F_COND_TYPE = 3;
const F_COND_REASON = 4;
const F_COND_MESSAGE = 5;
const FIELDS: string[] = ["metadata.name", "status.certificate", "status.conditions[]", "status.conditions[].type",
  "status.conditions[].reason", "status.conditions[].message"];

/** A CSR object as read back. */
export class CsrStatus extends ScanHandler {
  /** metadata.name ("" when missing or not a plausible object name). */
  name: string = "";
  /** status.certificate, still base64 (empty until issued; `certTooLarge` when cut). */
  readonly cert: ByteBuffer = new ByteBuffer(0, CERT_B64_MAX);
  certTooLarge: bool = false;
  approved: bool = false;
  /** A Denied or Failed condition: its type, and its reason and message in words. */
  refused: string = "";
  why: string = "";
  /** Why the body is unusable ("" when it parsed). */
  error: string = "";
  private type: string = "";
  private reason: string = "";
  private message: string = "";

  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (kind != ValueKind.String) return;
    if (field == F_NAME) this.name = objectName(v) ? v.toString() : "";
    else if (field == F_CERT) {
      this.cert.clear();
      this.certTooLarge = v.overflow;
      if (!v.overflow) this.cert.append(v);
    } else if (field == F_COND_TYPE) this.type = v.length <= 16 ? v.toString() : "";
    else if (field == F_COND_REASON) this.reason = v.slice(0, 100);
    else if (field == F_COND_MESSAGE) this.message = v.slice(0, 200);
  }

  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    if (field != F_COND) return;
    this.type = "";
    this.reason = "";
    this.message = "";
  }

  end(field: i32): void {
    if (field != F_COND) return;
    const t = this.type;
    if (t == "Approved") this.approved = true;
    else if ((t == "Denied" || t == "Failed") && this.refused.length == 0) {
      this.refused = t;
      this.why = this.reason + (this.message.length > 0 ? (this.reason.length > 0 ? ": " : "") + this.message : "");
    }
  }
}

/** Reads a CSR object from bytes [p, p+n). */
export function readCsr(p: usize, n: i32): CsrStatus {
  const s = new CsrStatus();
  const scanner = new JsonScanner(FIELDS, s, CERT_B64_MAX);
  if (!scanner.feed(p, n) || !scanner.finish()) s.error = "not JSON (" + scanner.error + ")";
  return s;
}

/** A DNS-subdomain object name (lower-case letters, digits, '-' and '.', at most 253): safe in a path. */
export function objectName(v: ByteBuffer): bool {
  const n = v.length;
  if (n == 0 || n > 253 || v.overflow) return false;
  for (let i = 0; i < n; i++) {
    const c = v.at(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2e)) return false;
  }
  return true;
}

/**
 * The validity lines a host answers OP_CERT_INSTALL and OP_CERT_INFO with (`notBefore=<unix s>\n`,
 * `notAfter=<unix s>\n`): [notBefore, notAfter] in Unix seconds, or null when they are missing or absurd.
 */
export function readValidity(p: usize, n: i32): StaticArray<i64> | null {
  const out = new StaticArray<i64>(2);
  out[0] = -1;
  out[1] = -1;
  let i = 0;
  while (i < n) {
    let e = i;
    while (e < n && load<u8>(p + <usize>e) != 0x0a) e++;
    const line = String.UTF8.decodeUnsafe(p + <usize>i, <usize>(e - i));
    const eq = line.indexOf("=");
    if (eq > 0) {
      const k = line.substring(0, eq);
      const at = k == "notBefore" ? 0 : k == "notAfter" ? 1 : -1;
      if (at >= 0) out[at] = digits(line.substring(eq + 1));
    }
    i = e + 1;
  }
  if (out[0] < 0 || out[1] <= out[0]) return null;
  return out;
}

/** A decimal count of at most 12 digits, or -1. */
function digits(s: string): i64 {
  if (s.length == 0 || s.length > 12) return -1;
  let x: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    x = x * 10 + <i64>(c - 0x30);
  }
  return x;
}

/** True when a decoded certificate looks like a PEM chain (the host checks the rest). */
export function looksLikePem(b: ByteBuffer): bool {
  return b.slice(0, 27) == "-----BEGIN CERTIFICATE-----";
}
