/**
 * The host_call extension point (ABI.md "Host calls"): each call gets a request id, its result comes
 * back later as on_host_result with that id. The core keeps only the operation of each call in flight,
 * at most MAX_IN_FLIGHT of them, so a host that never answers cannot make this grow.
 */
import { hostCall } from "../abi/imports";
import { ErrorCode } from "../abi/errors";
import { ByteBuffer } from "../util/bytes";

const MAX_IN_FLIGHT = 8;

export class HostCalls {
  /** Calls made since start (stat STAT_HOST_CALLS). */
  calls: i64 = 0;
  private next: i32 = 1;
  private reqs: i32[] = [];
  private ops: i32[] = [];

  /** Starts `op`; returns its request id, or a negative ErrorCode when it was refused at once. */
  call(op: i32, arg: i32, bytes: ByteBuffer | null): i32 {
    if (this.reqs.length >= MAX_IN_FLIGHT) return -ErrorCode.HostBusy;
    const req = this.next;
    this.next = this.next < 0x7ffffff0 ? this.next + 1 : 1;
    this.calls++;
    const rc = bytes !== null ? hostCall(req, op, arg, bytes.ptr, bytes.length) : hostCall(req, op, arg, 0, 0);
    if (rc < 0) return rc;
    this.reqs.push(req);
    this.ops.push(op);
    return req;
  }

  /** The operation request `req` was for (and forgets it), or -1 for an id we are not waiting for. */
  finish(req: i32): i32 {
    const i = this.reqs.indexOf(req);
    if (i < 0) return -1;
    const op = unchecked(this.ops[i]);
    this.reqs.splice(i, 1);
    this.ops.splice(i, 1);
    return op;
  }

  /** Forget every call in flight (hand-off, shutdown): late results are ignored. */
  clear(): void {
    this.reqs.length = 0;
    this.ops.length = 0;
  }
}
