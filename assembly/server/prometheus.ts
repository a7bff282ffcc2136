/** The Prometheus text exposition format (0.0.4): a family's HELP and TYPE lines, and its samples. */
import { ByteBuffer } from "../util/bytes";

export const PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export function help(out: ByteBuffer, name: string, text: string, type: string): void {
  out.str("# HELP ");
  out.str(name);
  out.byte(0x20);
  out.str(text);
  out.str("\n# TYPE ");
  out.str(name);
  out.byte(0x20);
  out.str(type);
  out.byte(0x0a);
}

/** One sample; `labels` is the text between the braces ("" for none), `ts` Unix ms (0: none). */
export function sample(out: ByteBuffer, name: string, labels: string, v: string, ts: i64 = 0): void {
  out.str(name);
  if (labels.length > 0) {
    out.byte(0x7b);
    out.str(labels);
    out.byte(0x7d);
  }
  out.byte(0x20);
  out.str(v);
  if (ts > 0) {
    out.byte(0x20);
    out.int(ts);
  }
  out.byte(0x0a);
}

/** A label value: backslash, quote and newline escaped. */
export function escapeLabel(s: string): string {
  if (s.indexOf("\\") < 0 && s.indexOf('"') < 0 && s.indexOf("\n") < 0) return s;
  const out = new ByteBuffer(s.length + 8, s.length * 2 + 8);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x5c || c == 0x22) out.byte(0x5c);
    if (c == 0x0a) out.str("\\n");
    else if (c < 0x80) out.byte(c);
    // Kubernetes names are ASCII; anything else is kept as its UTF-8.
    else out.str(s.charAt(i));
  }
  return out.toString();
}

/** Microseconds as seconds with six decimals. */
export function microsText(us: i64): string {
  if (us < 0) us = 0;
  const frac = (us % 1_000_000).toString();
  return (us / 1_000_000).toString() + "." + "000000".substring(frac.length) + frac;
}
