/**
 * The host side of a brain pull for the ABI suites: host-sim's own slot (host-sim/src/brain/slot.ts) and
 * commit checks (host-sim/src/brain/verify.ts) behind the harness's host_call, so these suites drive the
 * real verification (docs/brain.md "Store and verify"). It does not swap (the suites take the snapshot and
 * start the successor themselves, as host-sim's swap does); it records what it was asked to swap to.
 */
import crypto from "node:crypto";
import { BrainSlot } from "../../host-sim/src/brain/slot.js";
import { BrainRefusal, CommitFormatError, verifyCommit, type BrainCommit } from "../../host-sim/src/brain/verify.js";
import { ErrorCode, HostOp, type HostCallHandler } from "./core-harness.js";

export class BrainHost {
  /** Public keys brains must be signed by (none: every brain is BrainUntrusted). */
  keys: crypto.KeyObject[] = [];
  readonly slot = new BrainSlot();
  /** What OP_BRAIN_STATUS reports. */
  running = "";
  failed = "";
  reason = "";
  message = "";
  /** Commits accepted (the host would swap after each). */
  readonly accepted: BrainCommit[] = [];
  /** Commits refused, with the words sent back. */
  readonly refusedWords: string[] = [];

  /** The handler for CoreHarness's `hostCall` option (every other op: ERR_UNSUPPORTED). */
  readonly handler: HostCallHandler = (_req, op, arg, bytes, result) => {
    if (op === HostOp.BRAIN_WRITE) return this.slot.write(arg, bytes);
    if (op === HostOp.BRAIN_COMMIT) {
      try {
        this.accepted.push(verifyCommit(bytes, this.slot.image(), this.keys).commit);
        result(0);
      } catch (e) {
        if (e instanceof CommitFormatError) return -ErrorCode.HOST_CALL_INVALID;
        if (!(e instanceof BrainRefusal)) throw e;
        this.refusedWords.push(e.words);
        result(ErrorCode.HOST_CALL_FAILED, Buffer.from(e.words));
      }
      return 0;
    }
    if (op === HostOp.BRAIN_STATUS) {
      const lines = [["running", this.running], ["failed", this.failed], ["reason", this.reason], ["message", this.message]]
        .filter(([, v]) => v !== "").map(([k, v]) => `${k}=${v}\n`).join("");
      result(0, Buffer.from(lines));
      return 0;
    }
    return -ErrorCode.UNSUPPORTED;
  };

  /** The image written so far. */
  get written(): Buffer {
    return this.slot.image();
  }
}
