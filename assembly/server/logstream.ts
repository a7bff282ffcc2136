/**
 * `/containerLogs/{namespace}/{pod}/{container}`: the container's log (pods/logs.ts), one piece at a time,
 * and with `follow` the lines still to come, each sent when the lifecycle reaches its time, until the run
 * ends (its exit line is the last) or the client leaves. The stream follows one run: when the container
 * restarts, what is left of the run it followed is read as the previous one.
 */
import { ByteBuffer } from "../util/bytes";
import { LogQuery, nextLineAt, writeLogs } from "../pods/logs";
import { Pod, Stage } from "../pods/pod";
import { Kubelet } from "../agent/agent";
import { PIECE_BYTES, Produced, Producer } from "./producer";

export class LogStream extends Producer {
  /** Lines after this wall time were not sent yet (-1: none was). */
  private sentUntil: i64 = -1;
  /** Bytes left under limitBytes (-1: no limit). */
  private left: i64 = -1;
  /** The start of the run followed (wall ms). */
  private runStart: i64 = 0;

  constructor(private k: Kubelet, private uid: string, private container: string, private q: LogQuery, private follow: bool, pod: Pod) {
    super();
    this.left = q.limitBytes;
    this.runStart = pod.lastStartedMs;
    // A previous run has ended: there is nothing to follow.
    if (q.previous) this.follow = false;
  }

  more(out: ByteBuffer, now: i64): Produced {
    const pod = this.find();
    const q = this.q;
    // A pod that is gone has nothing more to say.
    if (pod === null) return Produced.Done;
    const clock = this.k.ctx.clock;
    const wall = clock.wallMs(now);
    // The run we follow was replaced by a restart: read its end as the previous run.
    if (!q.previous && pod.lastStartedMs != this.runStart) {
      if (pod.prevStartedMs != this.runStart) return Produced.Done;
      q.previous = true;
    }
    q.afterMs = this.sentUntil;
    q.limitBytes = this.left;
    q.room = PIECE_BYTES;
    const before = out.length;
    const last = writeLogs(out, pod, this.container, wall, q);
    // After the first piece the tail is chosen: later pieces go on from the last line sent.
    q.tailLines = -1;
    if (last >= 0) this.sentUntil = last;
    if (this.left >= 0) {
      this.left -= <i64>(out.length - before);
      if (this.left <= 0) return Produced.Done;
    }
    if (q.more) return Produced.More;
    if (!this.follow) return Produced.Done;
    // Following: the run is over once its container stopped (its exit line was just written) or restarted.
    if (q.previous || pod.stage != Stage.Running || pod.lastStartedMs != this.runStart) return Produced.Done;
    const next = nextLineAt(pod, this.sentUntil >= 0 ? this.sentUntil : wall);
    if (next < 0) return Produced.Done;
    // Wake for the next line, or sooner when the lifecycle moves first (the run may end before it).
    let wake = now + (next > wall ? next - wall : 0);
    if (pod.nextStepAt >= 0 && pod.nextStepAt < wake) wake = pod.nextStepAt;
    this.wakeAt = wake;
    return Produced.Wait;
  }

  private find(): Pod | null {
    const pods = this.k.pods.pods;
    for (let i = 0; i < pods.length; i++) if (pods[i].uid == this.uid) return pods[i];
    return null;
  }
}
