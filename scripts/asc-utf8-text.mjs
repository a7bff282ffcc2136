/**
 * An AssemblyScript compiler transform that stores the core's long string literals as compressed bytes.
 *
 * Why: AssemblyScript keeps every string literal as a static UTF-16 String object (two bytes per
 * character plus a 20-byte header and the data segment's own header), so log lines, condition messages and
 * error texts cost about three times their length in the module. This transform moves every printable-ASCII literal (newlines and tabs allowed) of
 * at least MIN_LENGTH characters in assembly/ into one blob and replaces the literal with a call
 * `__pk_text(index)` that decodes it the first time it is evaluated (the decoded String is kept in a
 * cache of one slot per literal, as before). Since the packing, even a one-character literal is cheaper
 * this way (a byte or two in the blob, two of offset and a call, against a 20-byte header, its
 * characters and a data segment's header as a UTF-16 literal: 1.6 KB less in all than keeping the
 * literals under four characters as they were); a hot path pays one call and a load per literal after
 * the first decoding. The empty string stays as it is.
 *
 * The blob is compressed by byte-pair encoding, built here at compile time: the texts use fewer than 100
 * of the 256 byte values, and each unused value (except 0) becomes a token that stands for a pair of
 * bytes, themselves plain characters or earlier tokens. Tokens are chosen greedily, the most frequent
 * adjacent pair first, inside literals only, so each literal still decodes on its own: the decoder
 * expands one literal's bytes straight into its String, with no decompressed copy of the blob in linear
 * memory. The pair table is 512 bytes; the 24 KB of text of 2026-12 pack into about 13 KB. Each literal's
 * bytes are found by their packed length (one byte per literal) and the u16 offset of every GROUP-th
 * literal: at most GROUP - 1 additions per first decoding, half the table that an offset per literal was.
 * Literals are numbered by how often the source uses them, so the common ones cost a one-byte index.
 *
 * Semantics are unchanged: AssemblyScript compares strings by value, and nothing in the core relies on a
 * literal's identity. Decorator arguments (`@external("picokubelet", "send")`) and import/export paths
 * are never touched. The blob and the decoder are a source added to the program after parsing
 * (`assembly/~text.ts`), so nothing is generated into the repository. Every literal is decoded again here
 * from the packed form and compared with its text before the build goes on.
 */
import { Node, NodeKind, LiteralKind } from "assemblyscript";

/** Literals shorter than this stay UTF-16 literals: only "". */
const MIN_LENGTH = 1;
/** Longer literals stay as they are (none is near this; it bounds the decoder's work per literal). */
const MAX_LENGTH = 4095;
/** Offsets are u16: the packed blob must stay under 64 KiB. */
const MAX_PACKED = 0xffff;
/** One u16 offset per this many literals (a power of two); the literals between are found by their lengths. */
const GROUP = 16;

const SKIP = new Set([NodeKind.Decorator, NodeKind.Import, NodeKind.Export, NodeKind.ExportImport, NodeKind.ExportDefault]);

function isStringLiteral(n) {
  return n && typeof n === "object" && n.kind === NodeKind.Literal && n.literalKind === LiteralKind.String;
}

function eligible(text) {
  if (text.length < MIN_LENGTH || text.length > MAX_LENGTH) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // Printable ASCII, and the newline and tab of log lines and messages.
    if ((c < 0x20 && c != 0x0a && c != 0x09) || c > 0x7e) return false;
  }
  return true;
}

/**
 * Literals that say which core this is (the kubeletVersion suffix "-picokubelet.0.1.0" and the User-Agent
 * "picokubelet/0.1.0 ...") are stored unpacked, so their UTF-8 bytes appear in the module as they are:
 * `strings` finds a module's version, and the brain tests make a "v2" of the release core by replacing
 * them byte for byte (tests/host-sim/support/brains.ts withVersion).
 */
function keepPlain(text) {
  return /picokubelet[./][0-9]/.test(text);
}

/**
 * Byte-pair encoding of `texts` (arrays of byte values). Returns the packed sequences and the pair
 * table: pairs[t] = [left, right] for every token byte t. Deterministic: ties go to the pair seen first.
 * The texts whose `plain` flag is set are left as they are (no token is used in them).
 */
function pack(texts, plain) {
  const used = new Set();
  for (const t of texts) for (const b of t) used.add(b);
  const free = [];
  for (let b = 1; b < 256; b++) if (!used.has(b)) free.push(b);
  let seqs = texts.map((t) => t.slice());
  const pairs = new Map();
  for (const token of free) {
    const counts = new Map();
    for (const [n, s] of seqs.entries()) {
      if (plain[n]) continue;
      for (let i = 0; i + 1 < s.length; i++) {
        const k = (s[i] << 8) | s[i + 1];
        counts.set(k, (counts.get(k) || 0) + 1);
        // "aaa" holds one replaceable "aa", not two.
        if (s[i] === s[i + 1] && s[i + 2] === s[i]) i++;
      }
    }
    let best = -1;
    let most = 0;
    for (const [k, c] of counts) if (c > most) (most = c), (best = k);
    // A token saves one byte per use and costs two in the table.
    if (most < 3) break;
    const a = best >> 8;
    const b = best & 0xff;
    pairs.set(token, [a, b]);
    seqs = seqs.map((s, n) => {
      if (plain[n]) return s;
      const o = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) o.push(token), i++;
        else o.push(s[i]);
      }
      return o;
    });
  }
  return { seqs, pairs };
}

/** The decoder's expansion, in JavaScript: the check that packing lost nothing. */
function unpack(seq, pairs) {
  const out = [];
  const put = (b) => {
    const p = pairs.get(b);
    if (p === undefined) out.push(b);
    else put(p[0]), put(p[1]);
  };
  for (const b of seq) put(b);
  return String.fromCharCode(...out);
}

export default class Utf8Text {
  afterParse(parser) {
    const index = new Map();
    let texts = [];
    const uses = [];
    const calls = [];
    const intern = (text) => {
      let i = index.get(text);
      if (i === undefined) {
        i = texts.length;
        texts.push(text);
        uses.push(0);
        index.set(text, i);
      }
      uses[i]++;
      return i;
    };
    const replace = (lit) => {
      const range = lit.range;
      const arg = Node.createIntegerLiteralExpression(globalThis.i64_new(0, 0), range);
      calls.push([arg, intern(lit.value)]);
      return Node.createCallExpression(Node.createIdentifierExpression("__pk_text", range), null, [arg], range);
    };
    const seen = new Set();
    const walk = (node) => {
      if (!node || typeof node !== "object" || seen.has(node)) return;
      seen.add(node);
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) {
          if (isStringLiteral(node[i]) && eligible(node[i].value)) node[i] = replace(node[i]);
          else walk(node[i]);
        }
        return;
      }
      if (typeof node.kind === "number" && SKIP.has(node.kind)) return;
      for (const key of Object.keys(node)) {
        if (key === "range" || key === "parent") continue;
        const v = node[key];
        if (isStringLiteral(v) && eligible(v.value)) node[key] = replace(v);
        else if (v && typeof v === "object") walk(v);
      }
    };
    for (const source of parser.sources) {
      if (!source.normalizedPath.startsWith("assembly/")) continue;
      walk(source.statements);
    }
    if (texts.length === 0) texts.push("none"), uses.push(0);
    // The most used literals get the smallest indices: an index under 64 is a one-byte i32.const at each call.
    const order = texts.map((_, i) => i).sort((a, b) => uses[b] - uses[a] || a - b);
    const renumbered = new Array(texts.length);
    order.forEach((old, i) => (renumbered[old] = i));
    for (const [arg, i] of calls) arg.value = globalThis.i64_new(renumbered[i], 0);
    texts = order.map((i) => texts[i]);
    const { seqs, pairs } = pack(texts.map((t) => Array.from(t, (c) => c.charCodeAt(0))), texts.map(keepPlain));
    const bytes = [];
    const lengths = [];
    const offsets = [];
    seqs.forEach((seq, i) => {
      if (unpack(seq, pairs) !== texts[i]) throw new Error(`asc-utf8-text: literal ${JSON.stringify(texts[i])} does not survive packing`);
      if (seq.length > 0xff) throw new Error(`asc-utf8-text: literal ${JSON.stringify(texts[i])} packs into ${seq.length} bytes, more than a length byte holds`);
      if (i % GROUP == 0) offsets.push(bytes.length);
      lengths.push(seq.length);
      bytes.push(...seq);
    });
    if (bytes.length > MAX_PACKED) throw new Error(`asc-utf8-text: ${bytes.length} packed bytes of text is more than the ${MAX_PACKED} that u16 offsets allow`);
    const table = new Array(512).fill(0);
    for (const [t, [a, b]] of pairs) (table[2 * t] = a), (table[2 * t + 1] = b);
    const text = [
      "const PK_TEXT: usize = memory.data<u8>([" + bytes.join(",") + "]);",
      "const PK_LENGTHS: usize = memory.data<u8>([" + lengths.join(",") + "]);",
      "const PK_OFFSETS: usize = memory.data<u16>([" + offsets.join(",") + "]);",
      // For a token byte t, its pair is bytes 2t and 2t+1; both are 0 for a plain character.
      "const PK_PAIRS: usize = memory.data<u8>([" + table.join(",") + "]);",
      "const PK_CACHE = new StaticArray<string | null>(" + texts.length + ");",
      // Expands byte b at UTF-16 offset `at` of `out` (when out is 0, only counts); returns the next offset.
      "function pkPut(b: usize, out: usize, at: usize): usize {",
      "  const pair = <usize>load<u16>(PK_PAIRS + (b << 1));",
      "  if (pair == 0) {",
      "    if (out != 0) store<u16>(out + at, <u16>b);",
      "    return at + 2;",
      "  }",
      "  return pkPut(pair >> 8, out, pkPut(pair & 0xff, out, at));",
      "}",
      "@global export function __pk_text(i: i32): string {",
      "  let s = unchecked(PK_CACHE[i]);",
      "  if (s !== null) return s;",
      "  let from = PK_TEXT + <usize>load<u16>(PK_OFFSETS + ((<usize>i >> " + Math.log2(GROUP) + ") << 1));",
      "  for (let j = i & ~" + (GROUP - 1) + "; j < i; j++) from += <usize>load<u8>(PK_LENGTHS + <usize>j);",
      "  const to = from + <usize>load<u8>(PK_LENGTHS + <usize>i);",
      "  let size: usize = 0;",
      "  for (let p = from; p < to; p++) size = pkPut(load<u8>(p), 0, size);",
      "  const out = __new(size, idof<string>());",
      "  let at: usize = 0;",
      "  for (let p = from; p < to; p++) at = pkPut(load<u8>(p), out, at);",
      "  const t = changetype<string>(out);",
      "  unchecked((PK_CACHE[i] = t));",
      "  return t;",
      "}",
    ].join("\n");
    parser.parseFile(text, "assembly/~text.ts", false);
  }
}
