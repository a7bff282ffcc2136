/**
 * The agent's phase machine as one table: in which phases a Signal from a worker counts, and the phase it
 * leads to. Signals in other phases change nothing (for example a renewal that lands while the agent is
 * stopping). Start, shutdown and a refused configuration enter their phases directly (agent.ts `enter`).
 */
import { Phase } from "../abi/codes";
import { Signal } from "../node/worker";

/** Bit of a phase in a `from` mask. */
@inline function bit(p: Phase): u32 {
  return (<u32>1) << (<u32>p);
}

const RUNNING_OR_LEASING: u32 = bit(Phase.Leasing) | bit(Phase.Running);

// One row per transition: signal, the phases it applies in, the phase it enters.
const SIGNALS: Signal[] = [Signal.Anchored, Signal.Credentialed, Signal.Registered, Signal.LeaseReady, Signal.LeaseVanished, Signal.NodeGone, Signal.CleanedUp];
const FROM: u32[] = [bit(Phase.Anchoring), bit(Phase.Bootstrapping), bit(Phase.Registering), bit(Phase.Leasing), RUNNING_OR_LEASING, RUNNING_OR_LEASING, bit(Phase.Stopping)];
const TO: Phase[] = [Phase.Bootstrapping, Phase.Registering, Phase.Leasing, Phase.Running, Phase.Registering, Phase.Registering, Phase.Stopped];

/** The phase `signal` leads to from `phase`, or `phase` itself when the table has no such transition. */
export function transition(phase: Phase, signal: Signal): Phase {
  for (let i = 0; i < SIGNALS.length; i++) {
    if (unchecked(SIGNALS[i]) == signal && (unchecked(FROM[i]) & bit(phase)) != 0) return unchecked(TO[i]);
  }
  return phase;
}

/** True in the phases where workers' results are acted on. */
export function acting(phase: Phase): bool {
  return (phase >= Phase.Anchoring && phase <= Phase.Stopping) || phase == Phase.Bootstrapping;
}
