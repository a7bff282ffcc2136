// host-sim/src/brain/swap.ts
// The bookkeeping of brain swaps (docs/brain.md "Swap" and "Roll back"), apart from the mechanics of
// replacing an instance (node.ts): which brain runs, the previous one and the snapshot it handed over
// (kept until the new one has proved itself), the proving window, and the last rollback for
// OP_BRAIN_STATUS. A new brain is proven by PROVE_RENEWALS Lease renewals; it is rolled back when it
// traps, refuses the snapshot, or its renewals do not grow within WINDOW_PERIODS renew periods.
import type { BrainCommit, VerifiedBrain } from './verify.js';

/** Renewals after the swap that prove a brain. */
export const PROVE_RENEWALS = 3;
/** Renew periods after the swap within which STAT_RENEWALS must grow. */
export const WINDOW_PERIODS = 3;

/** A brain the node can run: the module, and what it is (digest null: the core host-sim was started with). */
export interface Brain {
  module: WebAssembly.Module;
  digest: string | null;
  commit?: BrainCommit;
  image?: Buffer;
}

/** The brain to go back to, with the snapshot it handed over. */
export interface Previous {
  brain: Brain;
  snapshot: Uint8Array;
}

/** The reasons a swap is undone (the words OP_BRAIN_STATUS reports). */
export type RollbackReason = 'BrainCrashed' | 'BrainRefusedSnapshot' | 'BrainNotRenewing';

interface Proving {
  /** STAT_RENEWALS right after the new instance started (it counts on from the snapshot's). */
  baseline: number;
  /** Timer-clock ms by which renewals must have grown. */
  deadline: number;
}

export class BrainKeeper {
  private current: Brain;
  private previous: Previous | null = null;
  private proving: Proving | null = null;
  private failure: { digest: string; reason: string; message: string } | null = null;

  constructor(start: Brain) {
    this.current = start;
  }

  /** The brain running now. */
  get running(): Brain {
    return this.current;
  }

  /** True between a swap and its proof (or rollback): a trap then is the new brain's fault. */
  get isProving(): boolean {
    return this.proving !== null;
  }

  /** The proving window's deadline (timer clock), or -1. */
  get deadline(): number {
    return this.proving?.deadline ?? -1;
  }

  /** OP_BRAIN_STATUS's lines: running= (absent for the core host-sim started with), failed=, reason=, message=. */
  statusLines(): string {
    let s = this.current.digest !== null ? `running=${this.current.digest}\n` : '';
    if (this.failure) s += `failed=${this.failure.digest}\nreason=${this.failure.reason}\nmessage=${oneLine(this.failure.message)}\n`;
    return s;
  }

  /** The last rollback (or refused swap), if any. */
  get lastFailure(): { digest: string; reason: string; message: string } | null {
    return this.failure;
  }

  /**
   * A swap to `next` begins; `snapshot` is what the running brain handed over. A swap from a brain that is
   * itself still proving keeps the previous proven one to go back to: an unproven brain is never the
   * fallback.
   */
  begin(next: VerifiedBrain, snapshot: Uint8Array): void {
    if (this.proving === null) this.previous = { brain: this.current, snapshot };
    this.current = { module: next.module, digest: next.commit.digest, commit: next.commit, image: next.image };
    // On probation from now on (a trap in its start is its fault); the window opens once it started.
    this.proving = { baseline: Infinity, deadline: -1 };
  }

  /** The new instance started; `renewals` is its STAT_RENEWALS, `deadline` the end of its window (timer clock). */
  started(renewals: number, deadline: number): void {
    this.proving = { baseline: renewals, deadline };
  }

  /** After events: true once the brain being proved has renewed PROVE_RENEWALS times (it is proven now). */
  provenBy(renewals: number): boolean {
    if (this.proving === null || renewals - this.proving.baseline < PROVE_RENEWALS) return false;
    this.proving = null;
    this.previous = null;
    return true;
  }

  /** At the deadline: true when renewals have not grown (roll back). */
  stalled(renewals: number): boolean {
    return this.proving !== null && renewals <= this.proving.baseline;
  }

  /** Undoes the swap: the brain and snapshot to restore (null when there is none to go back to). */
  rollback(reason: RollbackReason, message: string): Previous | null {
    const failed = this.current.digest ?? '(the core host-sim was started with)';
    this.failure = { digest: failed, reason, message };
    const back = this.previous;
    this.proving = null;
    this.previous = null;
    if (back) this.current = back.brain;
    return back;
  }

  /** A swap that could not begin (the running brain did not hand over): remembered like a rollback. */
  refused(digest: string, reason: string, message: string): void {
    this.failure = { digest, reason, message };
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}
