/**
 * The node's `/metrics` in the Prometheus text exposition format (version 0.0.4), for the kubelet port:
 * what this kubelet does and how it fares. Every series is something the core counts or knows; nothing is
 * estimated. Names are ours (`picokubelet_`), since the upstream kubelet's series describe machinery this
 * node does not have.
 */
import { ByteBuffer } from "../util/bytes";
import { CONDITION_COUNT, conditionType, statusText } from "../node/conditions";
import { RECONNECT_WINDOW_MS } from "../node/defaults";
import { phaseOf } from "../pods/podstatus";
import { Kubelet } from "../agent/agent";
import { help, sample } from "./prometheus";
import { WholeBody } from "./producer";
import { Reviewer } from "./reviews";
import { BUCKETS_MS, Histogram } from "../util/histogram";

/** What the kubelet port itself counts. */
export class ServerCounts {
  accepted: i64 = 0;
  requests: i64 = 0;
  refused: i64 = 0;
  unauthorized: i64 = 0;
  forbidden: i64 = 0;
}

/** `/metrics`: every series, written whole (a few KiB). */
export class NodeMetrics extends WholeBody {
  constructor(private k: Kubelet, private server: ServerCounts, private reviewer: Reviewer) {
    super();
  }

  write(out: ByteBuffer, now: i64): void {
    writeMetrics(out, this.k, now);
    const s = this.server;
    counter(out, "picokubelet_server_connections_total", "Connections accepted on the kubelet port.", s.accepted);
    counter(out, "picokubelet_server_connections_refused_total", "Connections closed at once (over the limit, or not listening).", s.refused);
    counter(out, "picokubelet_server_requests_total", "Requests read on the kubelet port.", s.requests);
    counter(out, "picokubelet_server_unauthorized_total", "Requests refused with 401.", s.unauthorized);
    counter(out, "picokubelet_server_forbidden_total", "Requests refused with 403.", s.forbidden);
    counter(out, "picokubelet_server_reviews_total", "TokenReviews and SubjectAccessReviews the API server answered.", this.reviewer.answered);
    counter(out, "picokubelet_server_review_failures_total", "Reviews that failed (no usable answer).", this.reviewer.failed);
  }
}

/** Appends every series of `k` at monotonic `now`. */
export function writeMetrics(out: ByteBuffer, k: Kubelet, now: i64): void {
  const ctx = k.ctx;
  counter(out, "picokubelet_lease_renewals_total", "Lease renewals that landed.", ctx.renewals);
  counter(out, "picokubelet_lease_renewal_failures_total", "Lease renewal attempts that failed.", ctx.renewFailures);
  counter(out, "picokubelet_node_status_pushes_total", "Node status PATCHes that landed.", ctx.statusPushes);
  counter(out, "picokubelet_http_requests_total", "HTTP requests sent to the API server.", ctx.net.requests);
  counter(out, "picokubelet_connections_total", "TLS connections opened to the API server.", ctx.net.connects);
  counter(out, "picokubelet_registrations_total", "Times the Node was created or adopted.", ctx.registrations);
  gauge(out, "picokubelet_reconnects", "Link re-ups and API reconnects in the last five minutes.", <i64>ctx.reconnects.count(now, RECONNECT_WINDOW_MS));
  gauge(out, "picokubelet_api_failures_in_a_row", "API requests that failed in a row.", <i64>ctx.consecutiveFailures);
  gauge(out, "picokubelet_heap_free_bytes", "Free heap of the host, as it last reported.", ctx.heapFree);
  gauge(out, "picokubelet_heap_total_bytes", "Total heap of the host, as it last reported.", ctx.heapTotal);
  gauge(out, "picokubelet_linear_memory_bytes", "Size of the core's linear memory.", <i64>memory.size() << 16);
  const last = k.lease.lastRenewOk;
  help(out, "picokubelet_lease_age_seconds", "Seconds since the last lease renewal landed (absent before the first).", "gauge");
  if (last >= 0) sample(out, "picokubelet_lease_age_seconds", "", ((now - last) / 1000).toString());
  help(out, "picokubelet_node_condition", "The node's conditions as last evaluated: 1 for the status it has.", "gauge");
  const conds = k.status.conds;
  for (let i = 0; i < CONDITION_COUNT; i++) {
    const c = conds.items[i];
    if (!c.seen) continue;
    sample(out, "picokubelet_node_condition", "condition=\"" + conditionType(i) + "\",status=\"" + statusText(c.status) + "\"", "1");
  }
  help(out, "picokubelet_pods", "Pods this node holds, by the phase it reports.", "gauge");
  const phases = ["Pending", "Running", "Succeeded", "Failed"];
  for (let p = 0; p < phases.length; p++) {
    let n: i64 = 0;
    for (let i = 0; i < k.pods.pods.length; i++) if (phaseOf(k.pods.pods[i]) == phases[p]) n++;
    sample(out, "picokubelet_pods", "phase=\"" + phases[p] + "\"", n.toString());
  }
  counter(out, "picokubelet_pods_admitted_total", "Pods admitted.", k.pods.admitted);
  counter(out, "picokubelet_pods_rejected_total", "Pods refused at admission.", k.pods.rejected);
  counter(out, "picokubelet_pod_status_patches_total", "Pod status PATCHes that landed.", k.pods.statusPatches);
  counter(out, "picokubelet_events_total", "Events the API server accepted.", k.events.posted);
  counter(out, "picokubelet_events_dropped_total", "Events dropped by the queue bound or the rate bound.", k.events.dropped);
  latency(out, ctx.latency);
}

/** API request durations as a Prometheus histogram (seconds). */
function latency(out: ByteBuffer, h: Histogram): void {
  const name = "picokubelet_http_request_duration_seconds";
  help(out, name, "Time from an API request's bytes going out to its whole response.", "histogram");
  let cumulative: i64 = 0;
  for (let i = 0; i < BUCKETS_MS.length; i++) {
    cumulative += h.counts[i];
    sample(out, name + "_bucket", "le=\"" + millisText(BUCKETS_MS[i]) + "\"", cumulative.toString());
  }
  sample(out, name + "_bucket", "le=\"+Inf\"", h.count.toString());
  sample(out, name + "_sum", "", millisText(h.sumMs));
  sample(out, name + "_count", "", h.count.toString());
}

/** Milliseconds as seconds with three decimals. */
function millisText(ms: i64): string {
  const frac = (ms % 1000).toString();
  return (ms / 1000).toString() + "." + "000".substring(frac.length) + frac;
}

function counter(out: ByteBuffer, name: string, text: string, v: i64): void {
  help(out, name, text, "counter");
  sample(out, name, "", v.toString());
}

function gauge(out: ByteBuffer, name: string, text: string, v: i64): void {
  help(out, name, text, "gauge");
  sample(out, name, "", v.toString());
}
