/**
 * The host_call extension point (ABI.md "Host calls"): each call gets a request id, its result comes
 * back later as on_host_result with that id. The core keeps only the operation of each call in flight,
 * at most MAX_IN_FLIGHT of them, so a host that never answers cannot make this grow. One instance (the
 * Context's) serves the whole core, so request ids never collide between the listener and the
 * certificate managers.
 */
import { hostCall } from "../abi/imports";
import { ErrorCode } from "../abi/errors";

const MAX_IN_FLIGHT = 8;

export class HostCalls {
  /** Calls made since start (stat STAT_HOST_CALLS). */
  calls: i64 = 0;
  private next: i32 = 1;
  /** Per slot: the request id in flight (0: free) and its operation. */
  private reqs: StaticArray<i32> = new StaticArray<i32>(MAX_IN_FLIGHT);
  private ops: StaticArray<i32> = new StaticArray<i32>(MAX_IN_FLIGHT);

  /** Starts `op` with `arg` and the bytes [ptr, ptr+len); returns its request id, or a negative ErrorCode when it was refused at once. */
  call(op: i32, arg: i32, ptr: usize = 0, len: i32 = 0): i32 {
    let slot = -1;
    for (let i = 0; i < MAX_IN_FLIGHT; i++) if (this.reqs[i] == 0) slot = i;
    if (slot < 0) return -ErrorCode.HostBusy;
    const req = this.next;
    this.next = this.next < 0x7ffffff0 ? this.next + 1 : 1;
    this.calls++;
    const rc = hostCall(req, op, arg, ptr, len);
    if (rc < 0) return rc;
    this.reqs[slot] = req;
    this.ops[slot] = op;
    return req;
  }

  /** The operation request `req` was for (and forgets it), or -1 for an id we are not waiting for. */
  finish(req: i32): i32 {
    for (let i = 0; i < MAX_IN_FLIGHT; i++) {
      if (req != 0 && this.reqs[i] == req) {
        this.reqs[i] = 0;
        return this.ops[i];
      }
    }
    return -1;
  }

  /** Forget every call in flight (hand-off): late results are ignored. */
  clear(): void {
    for (let i = 0; i < MAX_IN_FLIGHT; i++) this.reqs[i] = 0;
  }
}
