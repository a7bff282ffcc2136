// host-sim/src/brain/slot.ts
// The inactive brain slot: where OP_BRAIN_WRITE puts a pulled image chunk by chunk (docs/brain.md "Store
// and verify"). The image must arrive in order: each chunk's offset is the number of bytes written so
// far, offset 0 starts a new image, and the whole may not pass the slot's size (the board's partition;
// host-sim: 1 MiB). Chunks are kept as they come (no 1 MiB buffer per node: a rack has thousands), and
// with a state directory also written to DIR/brain-next.wasm, which is what a commit then verifies.
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode } from '../abi.js';

/** host-sim's slot size: the largest image OP_BRAIN_WRITE accepts (a release core is about 300 KiB). */
export const BRAIN_SLOT_BYTES = 1024 * 1024;

/** The file the slot is kept in under a state directory. */
export const NEXT_FILE = 'brain-next.wasm';

export class BrainSlot {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Whether anything was written since the last start of an image (offset 0). */
  private started = false;

  /**
   * @param size  the slot's size in bytes
   * @param dir   the state directory (DIR/brain-next.wasm), or memory only
   */
  constructor(readonly size = BRAIN_SLOT_BYTES, readonly dir?: string) {}

  /** Bytes written to the current image so far. */
  get written(): number {
    return this.length;
  }

  /** Where the image is kept, or null in memory only. */
  get file(): string | null {
    return this.dir === undefined ? null : path.join(this.dir, NEXT_FILE);
  }

  /**
   * Stores one chunk at `offset`: 0, or -ERR_HOST_CALL_INVALID (out of order, past the slot's size), or
   * -ERR_HOST_CALL_FAILED (the file cannot be written). `failed` gets the reason of a failure in words.
   */
  write(offset: number, bytes: Uint8Array, failed?: (why: string) => void): number {
    if (!Number.isInteger(offset) || offset < 0) return -ErrorCode.HOST_CALL_INVALID;
    const from = offset === 0 ? 0 : this.length;
    if (offset !== from || (offset > 0 && !this.started)) return -ErrorCode.HOST_CALL_INVALID;
    if (from + bytes.length > this.size) return -ErrorCode.HOST_CALL_INVALID;
    const chunk = Buffer.from(bytes);
    const file = this.file;
    if (file !== null) {
      try {
        if (offset === 0) {
          fs.mkdirSync(this.dir!, { recursive: true, mode: 0o700 });
          fs.writeFileSync(file, chunk, { mode: 0o600 });
        } else {
          fs.appendFileSync(file, chunk);
        }
      } catch (err) {
        failed?.(`cannot write ${file}: ${(err as Error).message}`);
        // What is on disk is no longer the image so far: the next image must start again at 0.
        this.reset();
        return -ErrorCode.HOST_CALL_FAILED;
      }
    }
    if (offset === 0) this.reset();
    this.started = true;
    this.chunks.push(chunk);
    this.length += chunk.length;
    return 0;
  }

  /** The image as stored: read back from the file under a state directory, else the chunks kept. */
  image(): Buffer {
    const file = this.file;
    if (file !== null && this.started) return fs.readFileSync(file);
    return Buffer.concat(this.chunks, this.length);
  }

  /** Forgets the image (after a commit: it is the running brain's now, or refused). */
  reset(): void {
    this.chunks = [];
    this.length = 0;
    this.started = false;
  }
}
