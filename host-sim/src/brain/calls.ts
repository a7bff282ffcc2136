// host-sim/src/brain/calls.ts
// The three brain host calls (assembly/ABI.md "Host calls", docs/brain.md "Store and verify"), apart from
// the node so they can be tested op by op: OP_BRAIN_WRITE completes inside host_call (its return value is
// the whole answer), OP_BRAIN_COMMIT and OP_BRAIN_STATUS answer with a result for on_host_result. A
// commit that passes every check carries the brain to swap to; the node swaps right after the core has
// seen the result.
import type crypto from 'node:crypto';
import { ErrorCode, HostOp } from '../abi.js';
import type { BrainSlot } from './slot.js';
import type { BrainKeeper } from './swap.js';
import { BrainRefusal, CommitFormatError, VerifiedBrain, verifyCommit } from './verify.js';

/** What a brain host call did: `rc` is host_call's return; `result` (when rc is 0) the on_host_result to deliver. */
export interface BrainCallOutcome {
  rc: number;
  result?: { status: number; data: string; swap?: VerifiedBrain };
}

export class BrainCalls {
  constructor(
    readonly slot: BrainSlot,
    readonly keys: ReadonlyArray<crypto.KeyObject>,
    readonly keeper: BrainKeeper,
    private readonly log: (level: 'info' | 'warn', line: string) => void,
  ) {}

  /** True for the ops handled here. */
  static handles(op: number): boolean {
    return op === HostOp.BRAIN_WRITE || op === HostOp.BRAIN_COMMIT || op === HostOp.BRAIN_STATUS;
  }

  call(op: number, arg: number, bytes: Uint8Array): BrainCallOutcome {
    switch (op) {
      case HostOp.BRAIN_WRITE:
        return { rc: this.slot.write(arg, bytes, (why) => this.log('warn', `brain: ${why}`)) };
      case HostOp.BRAIN_COMMIT:
        return this.commit(bytes);
      case HostOp.BRAIN_STATUS:
        return { rc: 0, result: { status: 0, data: this.keeper.statusLines() } };
      default:
        return { rc: -ErrorCode.UNSUPPORTED };
    }
  }

  private commit(bytes: Uint8Array): BrainCallOutcome {
    let image: Buffer;
    try {
      image = this.slot.image();
    } catch (err) {
      this.slot.reset();
      return this.refuse(new BrainRefusal('BrainIncomplete', `cannot read the stored image back: ${(err as Error).message}`));
    }
    // The image is the brain's now, or refused: either way the next pull starts a new one at offset 0.
    this.slot.reset();
    try {
      const brain = verifyCommit(bytes, image, this.keys);
      const c = brain.commit;
      this.log('info', `brain: ${c.digest} (version ${c.version}, ABI ${c.abi}, ${c.size} bytes, for pod ${c.pod}) verified; swapping to it`);
      return { rc: 0, result: { status: 0, data: '', swap: brain } };
    } catch (err) {
      if (err instanceof CommitFormatError) {
        this.log('warn', `brain: commit refused: ${err.message}`);
        return { rc: -ErrorCode.HOST_CALL_INVALID };
      }
      if (err instanceof BrainRefusal) return this.refuse(err);
      throw err;
    }
  }

  private refuse(r: BrainRefusal): BrainCallOutcome {
    this.log('warn', `brain: refused: ${r.words}`);
    return { rc: 0, result: { status: ErrorCode.HOST_CALL_FAILED, data: r.words } };
  }
}
