// tests/host-sim/support/tiny-wasm.ts
// Builds small stand-in cores byte by byte (no toolchain needed) to test what the real core never does:
// a wrong ABI version, a missing export, a trap inside an export.

const I32 = 0x7f;
const I64 = 0x7e;

interface Fn {
  name: string;
  params: number[];
  results: number[];
  /** Body instructions, without locals and the final `end`. */
  body: number[];
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...uleb(bytes.length), ...bytes];
}

function str(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [...uleb(b.length), ...b];
}

const I32_CONST = (v: number): number[] => [0x41, ...sleb(v)];
const I64_CONST = (v: number): number[] => [0x42, ...sleb(v)];
const UNREACHABLE = [0x00];

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export interface TinyCoreOptions {
  abiVersion?: number;
  /** Export names to leave out. */
  omit?: string[];
  /** Exports whose body traps (`unreachable`). */
  trapIn?: string[];
  /** The version-1 shape: v1's imports (connect without a profile, send returning nothing) and no v2 exports. */
  v1?: boolean;
}

/** A module with the version-2 export shape (or v1's) whose functions do nothing (or trap, or lie about the version). */
export function tinyCore(o: TinyCoreOptions = {}): Uint8Array {
  const ret = (r: number[]): number[] => r;
  const fns: Fn[] = [
    { name: 'abi_version', params: [], results: [I32], body: I32_CONST(o.abiVersion ?? 2) },
    { name: 'io_buffer', params: [], results: [I32], body: I32_CONST(1024) },
    { name: 'io_buffer_size', params: [], results: [I32], body: I32_CONST(4096) },
    { name: 'config_write', params: [I32], results: [I32], body: I32_CONST(0) },
    { name: 'start', params: [I64, I64], results: [I32], body: I32_CONST(0) },
    { name: 'on_link', params: [I64, I32, I32, I64, I32], results: [], body: [] },
    { name: 'on_heap', params: [I64, I32, I32], results: [], body: [] },
    { name: 'on_connected', params: [I64, I32], results: [], body: [] },
    { name: 'on_data', params: [I64, I32, I32], results: [], body: [] },
    { name: 'on_closed', params: [I64, I32, I32], results: [], body: [] },
    { name: 'on_timer', params: [I64], results: [], body: [] },
    { name: 'next_deadline', params: [], results: [I64], body: I64_CONST(-1) },
    { name: 'shutdown', params: [I64, I32], results: [], body: [] },
    { name: 'stat', params: [I32], results: [I64], body: I64_CONST(0) },
    { name: '__collect', params: [], results: [], body: ret([]) },
  ];
  if (!o.v1) {
    fns.push(
      { name: 'on_writable', params: [I64, I32], results: [], body: [] },
      { name: 'on_accepted', params: [I64, I32, I32, I32, I32], results: [], body: [] },
      { name: 'on_host_result', params: [I64, I32, I32, I32], results: [], body: [] },
      { name: 'snapshot_write', params: [I32], results: [I32], body: I32_CONST(0) },
      { name: 'snapshot_take', params: [I64], results: [I32], body: I32_CONST(-6) },
      { name: 'snapshot_read', params: [I32], results: [I32], body: I32_CONST(-1) },
    );
  }
  // The imports of the shape, so a host links (or refuses) them as it would the real core's.
  const imports: { name: string; params: number[]; results: number[] }[] = o.v1
    ? [
      { name: 'connect', params: [I32, I32, I32, I32, I32, I32], results: [] },
      { name: 'send', params: [I32, I32, I32], results: [] },
    ]
    : [
      { name: 'connect', params: [I32, I32, I32, I32, I32, I32, I32], results: [] },
      { name: 'send', params: [I32, I32, I32], results: [I32] },
      { name: 'host_call', params: [I32, I32, I32, I32, I32], results: [I32] },
    ];
  for (const f of fns) if (o.trapIn?.includes(f.name)) f.body = UNREACHABLE;
  const sig = (f: { params: number[]; results: number[] }): number[] => [0x60, ...vec(f.params.map((p) => [p])), ...vec(f.results.map((r) => [r]))];
  const types = [...imports.map(sig), ...fns.map(sig)];
  const importSec = imports.map((imp, i) => [...str('picokubelet'), ...str(imp.name), 0x00, ...uleb(i)]);
  const funcs = fns.map((_, i) => uleb(imports.length + i));
  const memory = [0x01, ...[0x00, 0x01]];
  const exports = fns
    .map((f, i) => ({ f, i }))
    .filter(({ f }) => !o.omit?.includes(f.name))
    .map(({ f, i }) => [...str(f.name), 0x00, ...uleb(imports.length + i)]);
  if (!o.omit?.includes('memory')) exports.push([...str('memory'), 0x02, 0x00]);
  const code = fns.map((f) => {
    const body = [0x00, ...f.body, 0x0b];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec(importSec)),
    ...section(3, vec(funcs)),
    ...section(5, memory),
    ...section(7, vec(exports)),
    ...section(10, vec(code)),
  ]);
}
