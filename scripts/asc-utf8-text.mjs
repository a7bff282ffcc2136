/**
 * An AssemblyScript compiler transform that stores the core's long string literals as UTF-8.
 *
 * Why: AssemblyScript keeps every string literal as a static UTF-16 String object (two bytes per
 * character plus a 20-byte header and the data segment's own header), so log lines, condition messages and
 * error texts cost about three times their length in the module. This transform moves every printable-ASCII literal (newlines and tabs allowed) of
 * at least MIN_LENGTH characters in assembly/ into one UTF-8 blob and replaces the literal with a call
 * `__pk_text(packed)` that decodes it when it is evaluated. Short literals (JSON keys, header names, the
 * strings of hot paths) stay as they are, so the common paths do not allocate more.
 *
 * Semantics are unchanged: AssemblyScript compares strings by value, and nothing in the core relies on a
 * literal's identity. Decorator arguments (`@external("picokubelet", "send")`) and import/export paths
 * are never touched. The blob and the decoder are a source added to the program after parsing
 * (`assembly/~text.ts`), so nothing is generated into the repository.
 */
import { Node, NodeKind, LiteralKind } from "assemblyscript";

/** Literals shorter than this stay UTF-16 literals (a call costs about what a literal this short saves). */
const MIN_LENGTH = 4;
/** A span is offset << 12 | length: texts of at most 4095 bytes in a blob of at most 1 MiB. */
const MAX_LENGTH = 4095;

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

export default class Utf8Text {
  afterParse(parser) {
    const index = new Map();
    const bytes = [];
    const spans = [];
    const intern = (text) => {
      let i = index.get(text);
      if (i === undefined) {
        i = spans.length;
        spans.push((bytes.length << 12) | text.length);
        for (let j = 0; j < text.length; j++) bytes.push(text.charCodeAt(j));
        index.set(text, i);
      }
      return i;
    };
    const replace = (lit) => {
      const range = lit.range;
      const i = intern(lit.value);
      return Node.createCallExpression(
        Node.createIdentifierExpression("__pk_text", range),
        null,
        [Node.createIntegerLiteralExpression(globalThis.i64_new(i, 0), range)],
        range,
      );
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
    if (bytes.length >= 1 << 20) throw new Error(`asc-utf8-text: ${bytes.length} bytes of text is more than the 1 MiB the packing allows`);
    if (spans.length === 0) spans.push(0);
    const text = [
      "const PK_TEXT: usize = memory.data<u8>([" + (bytes.length ? bytes.join(",") : "0") + "]);",
      "const PK_SPANS: usize = memory.data<u32>([" + spans.join(",") + "]);",
      "const PK_CACHE = new StaticArray<string | null>(" + spans.length + ");",
      "@global export function __pk_text(i: i32): string {",
      "  let s = unchecked(PK_CACHE[i]);",
      "  if (s !== null) return s;",
      "  const span = load<u32>(PK_SPANS + (<usize>i << 2));",
      "  const t = String.UTF8.decodeUnsafe(PK_TEXT + <usize>(span >> 12), <usize>(span & 0xfff), false);",
      "  unchecked((PK_CACHE[i] = t));",
      "  return t;",
      "}",
    ].join("\n");
    parser.parseFile(text, "assembly/~text.ts", false);
  }
}
