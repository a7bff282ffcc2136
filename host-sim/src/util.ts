// host-sim/src/util.ts
// Small text helpers shared by the spec parsers.

/** Splits at the first `sep`: `['a', 'b=c']` for `splitOnce('a=b=c', '=')`; the second part is undefined without `sep`. */
export function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** Parses `k=v,k2=v2` (empty input gives {}); throws on an item without `=` or an empty key. */
export function parsePairs(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [k, v] = splitOnce(item, '=');
    if (!k || v === undefined) throw new Error(`${what}: expected key=value, got '${item}'`);
    out[k] = v;
  }
  return out;
}
