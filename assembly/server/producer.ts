/**
 * A response body made piece by piece: the server asks for more whenever the client has taken what was
 * sent, so a body is never held whole and a slow reader costs one piece of memory, not the whole answer.
 */
import { ByteBuffer } from "../util/bytes";

/** Bytes a producer aims to write per call (a piece may end a little past it, at an item's end). */
export const PIECE_BYTES: i32 = 2048;

export enum Produced {
  /** Call again once this piece went out. */
  More = 0,
  /** Nothing now: call again at `wakeAt` (a followed log waiting for its next line). */
  Wait = 1,
  /** The body is complete. */
  Done = 2,
}

export abstract class Producer {
  /** With Wait: the core time to call again. */
  wakeAt: i64 = -1;
  /** Appends the next piece of the body to `out` at core time `now`. */
  abstract more(out: ByteBuffer, now: i64): Produced;
}

/** A body written whole on the first call (small ones: the node's /metrics). */
export abstract class WholeBody extends Producer {
  more(out: ByteBuffer, now: i64): Produced {
    this.write(out, now);
    return Produced.Done;
  }
  abstract write(out: ByteBuffer, now: i64): void;
}
