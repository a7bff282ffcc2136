/**
 * Where a brain's layer goes as it arrives: straight to the host's inactive brain slot, chunk by chunk
 * (OP_BRAIN_WRITE completes inside host_call, docs/brain.md), so the core never holds the module. The
 * sink stops writing at the first refusal or at the size the manifest promised, and counts the rest so
 * the puller can say what went wrong once the response is complete.
 */
import { hostCall } from "../abi/imports";
import { HostOp } from "../abi/codes";
import { BodySink } from "../http/sink";

export class SlotSink extends BodySink {
  /** What the manifest says the layer is. */
  expected: i64 = 0;
  /** Bytes the host stored. */
  written: i64 = 0;
  /** Bytes received in all. */
  received: i64 = 0;
  /** The host's refusal (a negative ErrorCode), 0 while fine. */
  refused: i32 = 0;

  /** The response is the blob (200): anything else (a redirect's page, an error) is not written. */
  private taking: bool = false;

  begin(): void {
    this.written = 0;
    this.received = 0;
    this.refused = 0;
    this.taking = false;
  }

  head(status: i32): void {
    this.taking = status == 200;
  }

  write(p: usize, n: i32): void {
    if (!this.taking) return;
    this.received += <i64>n;
    if (this.refused != 0) return;
    let take = n;
    if (this.written + <i64>take > this.expected) take = <i32>(this.expected - this.written);
    if (take <= 0) return;
    const rc = hostCall(0, HostOp.BrainWrite, <i32>this.written, p, take);
    if (rc < 0) {
      this.refused = rc;
      return;
    }
    this.written += <i64>take;
  }

  /** The whole layer arrived and was stored, and nothing more came. */
  get complete(): bool {
    return this.refused == 0 && this.written == this.expected && this.received == this.expected;
  }
}
