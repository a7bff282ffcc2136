// host-sim/src/runtime.ts
// Loads the core .wasm with @assemblyscript/loader and links its imports: the host boundary of host-sim.
// One compiled WebAssembly.Module is shared by every node of a process; each node gets its own Instance
// (its own linear memory and globals). Every guest pointer is bounds-checked before it is read.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { instantiateSync } from '@assemblyscript/loader';
import {
  ABI_VERSION_MAX, ABI_VERSION_MIN, CoreExports, HostFunctions, IMPORT_MODULE, REQUIRED_EXPORTS, guestAsString, guestBytes, guestUtf8,
} from './abi.js';

/** A module that cannot be hosted (missing file, wrong ABI version, missing export). */
export class ModuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModuleError';
  }
}

/** Thrown by the `env.abort` import: the core broke an internal invariant and the instance is dead. */
export class CoreAbort extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CoreAbort';
  }
}

/**
 * The .wasm to load: `explicit`, else $PICOKUBELET_WASM, else build/picokubelet.wasm of the repository
 * this file lives in (found by walking up to the package.json named "picokubelet").
 */
export function resolveWasmPath(explicit?: string): string {
  if (explicit) return path.resolve(explicit);
  if (process.env.PICOKUBELET_WASM) return path.resolve(process.env.PICOKUBELET_WASM);
  return path.join(repoRoot(), 'build', 'picokubelet.wasm');
}

/** The repository root (the directory of the package.json named "picokubelet"). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'picokubelet') return dir;
      } catch {
        /* not ours; keep walking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new ModuleError('cannot find the picokubelet repository root (package.json) above host-sim');
    dir = up;
  }
}

const compiled = new Map<string, WebAssembly.Module>();

/** Compiles (once per path per process) the core at `wasmPath`. */
export function compileCore(wasmPath: string): WebAssembly.Module {
  const cached = compiled.get(wasmPath);
  if (cached) return cached;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(wasmPath);
  } catch (err) {
    throw new ModuleError(`cannot read the core ${wasmPath}: ${(err as Error).message} (run \`npm run asbuild\`)`);
  }
  const mod = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  compiled.set(wasmPath, mod);
  return mod;
}

/** The refusal of a core whose ABI version is outside what this host runs. */
export function versionMessage(version: number): string {
  const range = ABI_VERSION_MIN === ABI_VERSION_MAX ? `version ${ABI_VERSION_MIN}` : `versions ${ABI_VERSION_MIN}..${ABI_VERSION_MAX}`;
  return `the core speaks ABI version ${version}; this host-sim runs ${range}: rebuild the core from this checkout (\`npm run build\`)`;
}

/**
 * Checks abi_version() before linking: a core of another version has other imports, so instantiating it
 * with ours would fail with a link error that names neither version. A throwaway instance with stub
 * imports answers the question (abi_version touches nothing else).
 */
const versions = new WeakMap<WebAssembly.Module, number>();

function checkVersion(module: WebAssembly.Module): void {
  const known = versions.get(module);
  if (known !== undefined) return;
  const stubs: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== 'function') continue;
    (stubs[imp.module] ??= {})[imp.name] = () => {
      throw new ModuleError('the core called an import while reporting its ABI version');
    };
  }
  let version: number;
  try {
    const probe = new WebAssembly.Instance(module, stubs);
    const fn = probe.exports.abi_version;
    if (typeof fn !== 'function') throw new ModuleError('the core does not export `abi_version`');
    version = Number((fn as () => number)());
  } catch (err) {
    if (err instanceof ModuleError) throw err;
    throw new ModuleError(`cannot ask the core for its ABI version: ${(err as Error).message}`);
  }
  if (version < ABI_VERSION_MIN || version > ABI_VERSION_MAX) throw new ModuleError(versionMessage(version));
  versions.set(module, version);
}

/** One instance of the core, linked to a host. */
export class CoreInstance {
  /** The raw exports (BigInt for i64). */
  readonly exports: CoreExports;
  /** Address and size of the shared byte buffer. */
  readonly ioPtr: number;
  readonly ioSize: number;

  constructor(module: WebAssembly.Module, host: HostFunctions) {
    let memory: WebAssembly.Memory | null = null;
    const mem = (): WebAssembly.Memory => {
      if (memory === null) throw new CoreAbort('the core called an import before instantiation finished');
      return memory;
    };
    const imports = {
      env: {
        abort: (msg: number, file: number, line: number, column: number): never =>
          host.abort(guestAsString(mem(), msg, 'abort message'), guestAsString(mem(), file, 'abort file'), line, column),
      },
      [IMPORT_MODULE]: {
        connect: (conn: number, hostPtr: number, hostLen: number, port: number, snPtr: number, snLen: number, profile: number): void =>
          host.connect(conn, guestUtf8(mem(), hostPtr, hostLen, 'connect host'), port, guestUtf8(mem(), snPtr, snLen, 'connect server_name'), profile),
        send: (conn: number, ptr: number, len: number): number => host.send(conn, guestBytes(mem(), ptr, len, 'send bytes')),
        host_call: (req: number, op: number, arg: number, ptr: number, len: number): number =>
          host.hostCall(req, op, arg, guestBytes(mem(), ptr, len, 'host_call bytes').slice()),
        close: (conn: number): void => host.close(conn),
        led: (pattern: number): void => host.led(pattern),
        log: (level: number, ptr: number, len: number): void => host.log(level, guestUtf8(mem(), ptr, len, 'log line')),
      },
    };
    checkVersion(module);
    const { exports } = instantiateSync<Record<string, unknown>>(module, imports);
    for (const name of REQUIRED_EXPORTS) {
      if (!(name in exports)) throw new ModuleError(`the core does not export \`${name}\``);
    }
    this.exports = exports as unknown as CoreExports;
    memory = this.exports.memory;
    this.ioPtr = this.exports.io_buffer();
    this.ioSize = this.exports.io_buffer_size();
    guestBytes(memory, this.ioPtr, this.ioSize, 'io_buffer');
  }

  /** Copies `bytes` (at most io_buffer_size) to the start of io_buffer. Call right before the export. */
  writeIo(bytes: Uint8Array): void {
    if (bytes.length > this.ioSize) throw new RangeError(`${bytes.length} bytes do not fit the ${this.ioSize}-byte io_buffer`);
    guestBytes(this.exports.memory, this.ioPtr, this.ioSize, 'io_buffer').set(bytes);
  }

  /** A copy of io_buffer[0..len) (what snapshot_read just put there). */
  readIo(len: number): Uint8Array {
    if (!Number.isInteger(len) || len < 0 || len > this.ioSize) throw new RangeError(`${len} bytes are not within the ${this.ioSize}-byte io_buffer`);
    return guestBytes(this.exports.memory, this.ioPtr, len, 'io_buffer').slice();
  }

  /** Current size of linear memory in bytes. */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }
}
