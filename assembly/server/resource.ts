/**
 * `/metrics/resource`: the series metrics-server scrapes (the kubelet's resource metrics endpoint), in the
 * Prometheus text format with a timestamp on every sample. What the node can measure, and nothing else:
 *
 * - node_cpu_usage_seconds_total: the CPU time the host measured the core spending (on_cpu); absent
 *   while the host has reported none.
 * - node_memory_working_set_bytes: the host's heap in use (total minus free, from on_heap).
 * - container_*: each running container's share of the core's CPU time (the core plays all of them at
 *   once and splits what it spends evenly among them), the bytes the core keeps for its pod, and when it
 *   started. pod_* are their sums per pod.
 *
 * metrics-server drops a container whose CPU or memory is zero, so a container appears once it has been
 * charged some CPU time, after the host's first report following its start.
 */
import { ByteBuffer } from "../util/bytes";
import { Pod, Stage } from "../pods/pod";
import { Kubelet } from "../agent/agent";
import { PIECE_BYTES, Produced, Producer } from "./producer";
import { escapeLabel as escape, help, microsText as micros, sample } from "./prometheus";

const FAMILIES = ["container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_start_time_seconds",
  "pod_cpu_usage_seconds_total", "pod_memory_working_set_bytes"];
const TYPES = ["counter", "gauge", "gauge", "counter", "gauge"];
const HELP = ["Cumulative CPU time charged to the container, in core-seconds.", "Bytes of memory kept for the container.",
  "Start time of the container since the Unix epoch, in seconds.", "Cumulative CPU time charged to the pod, in core-seconds.",
  "Bytes of memory kept for the pod."];

export class ResourceMetrics extends Producer {
  /** -1: the node's series are next; then family f, pod i. */
  private family: i32 = -1;
  private index: i32 = 0;
  private ts: i64 = 0;

  constructor(private k: Kubelet) {
    super();
  }

  more(out: ByteBuffer, now: i64): Produced {
    const ctx = this.k.ctx;
    const start = out.length;
    if (this.family < 0) {
      this.ts = ctx.clock.anchored ? ctx.clock.wallMs(now) : 0;
      if (ctx.cpuMicros > 0) {
        help(out, "node_cpu_usage_seconds_total", "Cumulative CPU time the host measured the core spending, in core-seconds.", "counter");
        sample(out, "node_cpu_usage_seconds_total", "", micros(ctx.cpuMicros), this.ts);
      }
      if (ctx.heapFree >= 0 && ctx.heapTotal > ctx.heapFree) {
        help(out, "node_memory_working_set_bytes", "Heap in use on the host, in bytes.", "gauge");
        sample(out, "node_memory_working_set_bytes", "", (ctx.heapTotal - ctx.heapFree).toString(), this.ts);
      }
      this.family = 0;
    }
    const pods = this.k.pods.pods;
    while (this.family < FAMILIES.length && out.length - start < PIECE_BYTES) {
      const f = this.family;
      if (this.index == 0) help(out, FAMILIES[f], HELP[f], TYPES[f]);
      if (this.index < pods.length) {
        const pod = pods[this.index++];
        if (pod.stage == Stage.Running) this.write(out, f, pod);
        continue;
      }
      this.family++;
      this.index = 0;
    }
    if (this.family < FAMILIES.length) return Produced.More;
    help(out, "scrape_error", "1 if there was an error while getting container metrics, 0 otherwise", "gauge");
    sample(out, "scrape_error", "", "0", -1);
    return Produced.Done;
  }

  private write(out: ByteBuffer, f: i32, pod: Pod): void {
    const name = FAMILIES[f];
    const podLabels = 'namespace="' + escape(pod.namespace) + '",pod="' + escape(pod.name) + '"';
    if (f >= 3) {
      const v = f == 3 ? micros(pod.cpuMicros) : footprint(pod).toString();
      sample(out, name, podLabels, v, this.ts);
      return;
    }
    const n = pod.containers.length;
    for (let c = 0; c < n; c++) {
      const labels = 'container="' + escape(pod.containers[c]) + '",' + podLabels;
      let v: string;
      if (f == 0) v = micros(pod.cpuMicros / <i64>n);
      else if (f == 1) v = (footprint(pod) / <i64>n).toString();
      else v = (pod.lastStartedMs / 1000).toString();
      sample(out, name, labels, v, this.ts);
    }
  }
}

/**
 * An estimate of the bytes the core keeps for `pod`: its record and the strings it holds (two bytes per
 * UTF-16 code unit), never zero.
 */
export function footprint(pod: Pod): i64 {
  let n: i64 = 640 + 2 * <i64>(pod.namespace.length + pod.name.length + pod.uid.length + pod.logText.length +
    pod.reason.length + pod.message.length + pod.startTimeText.length);
  for (let i = 0; i < pod.containers.length; i++) n += 48 + 2 * <i64>(pod.containers[i].length + pod.images[i].length);
  for (let i = 0; i < pod.initContainers.length; i++) n += 48 + 2 * <i64>(pod.initContainers[i].length + pod.initImages[i].length);
  return n;
}
