// host-sim/bench/apimetrics.mjs
// What the API server counted while the benchmark ran, from its /metrics (Prometheus text): requests by
// verb and resource (how many status patches, events, lease updates the rack sent), answers by code
// (429s: throttled), and requests API Priority and Fairness rejected, by priority level. When pods do not
// all get Running in time, these say whether the API server pushed back and on whom.

/** Parses the counters we read into Map<seriesKey, value>. */
export function parseCounters(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{') && !line.startsWith('apiserver_flowcontrol_rejected_requests_total{')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

function labels(key) {
  const l = {};
  for (const m of key.matchAll(/(\w+)="([^"]*)"/g)) l[m[1]] = m[2];
  return l;
}

/** The difference between two parsed snapshots, summarised. */
export function summarise(before, after) {
  const byRequest = {};
  const byCode = {};
  const rejected = {};
  const failed = {};
  for (const [key, v1] of after) {
    const d = v1 - (before.get(key) ?? 0);
    if (d <= 0) continue;
    const l = labels(key);
    if (key.startsWith('apiserver_request_total')) {
      const what = `${l.verb} ${l.resource}${l.subresource ? '/' + l.subresource : ''}`;
      byRequest[what] = (byRequest[what] ?? 0) + d;
      byCode[l.code] = (byCode[l.code] ?? 0) + d;
      if (Number(l.code) >= 400) failed[`${l.code} ${what}`] = (failed[`${l.code} ${what}`] ?? 0) + d;
    } else {
      const what = `${l.priority_level} (${l.reason})`;
      rejected[what] = (rejected[what] ?? 0) + d;
    }
  }
  const top = Object.fromEntries(Object.entries(byRequest).sort((a, b) => b[1] - a[1]).slice(0, 12));
  return { requestsByVerbResource: top, requestsByCode: byCode, failedByCodeVerbResource: failed, apfRejected: rejected };
}
