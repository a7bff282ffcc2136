// host-sim/bench/workload.mjs
// The pods part of the rack benchmark: one workload (a DaemonSet, or a Deployment with one replica per
// node) that tolerates the node's no-containers taint and selects the rack's label, and one watch on its
// namespace that times every pod through created -> bound -> Running -> Ready. A watch rather than a poll:
// listing 1,000 pods every second would itself be load on the API server we are measuring.
import https from 'node:https';

/** A pod template that lands only on the rack's nodes. */
function template(label, value) {
  return {
    metadata: { labels: { app: 'bench' } },
    spec: {
      nodeSelector: { [label]: value },
      tolerations: [{ key: 'picokubelet.dev/no-containers', operator: 'Exists', effect: 'NoSchedule' }],
      containers: [{ name: 'app', image: 'registry.example/bench:1.0' }],
      terminationGracePeriodSeconds: 5,
    },
  };
}

export function workloadObject(kind, ns, count, label, value) {
  const meta = { name: 'bench', namespace: ns };
  const selector = { matchLabels: { app: 'bench' } };
  if (kind === 'daemonset') return { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: meta, spec: { selector, template: template(label, value) } };
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta, spec: { replicas: count, selector, template: template(label, value) } };
}

export function workloadPath(kind, ns, name = '') {
  return `/apis/apps/v1/namespaces/${ns}/${kind === 'daemonset' ? 'daemonsets' : 'deployments'}${name ? '/' + name : ''}`;
}

function isReady(p) {
  const cs = p.status?.containerStatuses ?? [];
  return p.status?.phase === 'Running' && !p.metadata.deletionTimestamp && cs.length > 0 && cs.every((c) => c.ready === true);
}

/**
 * Tracks the namespace's pods from a watch. `t0` is when the workload was created; each milestone is the
 * time (ms after t0) the count of pods in that state first reached 1, half, 90 % and all of `count`.
 */
export class PodTracker {
  constructor(cluster, ns, count) {
    this.cluster = cluster;
    this.ns = ns;
    this.count = count;
    this.pods = new Map(); // uid -> { node, running, ready }
    this.deleted = 0;
    this.t0 = performance.now();
    this.milestones = { created: {}, bound: {}, running: {}, ready: {} };
    this.rv = '';
    this.req = null;
    this.closed = false;
    this.watchRestarts = 0;
    /** Set when the watch failed: the caller stops waiting and reports it. */
    this.error = null;
  }

  counts() {
    let bound = 0, running = 0, ready = 0;
    for (const p of this.pods.values()) {
      if (p.node) bound++;
      if (p.running) running++;
      if (p.ready) ready++;
    }
    return { created: this.pods.size + this.deleted, live: this.pods.size, bound, running, ready };
  }

  /** Pods not Ready, grouped by why (for the report when the deadline passes). */
  stuck() {
    const why = {};
    for (const p of this.pods.values()) {
      if (p.ready) continue;
      const k = !p.node ? `unbound${p.unschedulable ? ` (${p.unschedulable})` : ''}` : `bound, ${p.phase}${p.reason ? '/' + p.reason : ''}`;
      why[k] = (why[k] ?? 0) + 1;
    }
    return why;
  }

  mark() {
    const c = this.counts();
    const at = Math.round(performance.now() - this.t0);
    for (const k of ['created', 'bound', 'running', 'ready']) {
      for (const [name, n] of [['first', 1], ['half', Math.ceil(this.count / 2)], ['p90', Math.ceil(this.count * 0.9)], ['all', this.count]]) {
        if (c[k] >= n && this.milestones[k][name] === undefined) this.milestones[k][name] = at;
      }
    }
  }

  apply(type, p) {
    if (type === 'BOOKMARK') {
      this.rv = p.metadata.resourceVersion;
      return;
    }
    this.rv = p.metadata.resourceVersion;
    const uid = p.metadata.uid;
    if (type === 'DELETED') {
      if (this.pods.delete(uid)) this.deleted++;
      return;
    }
    const sched = (p.status?.conditions ?? []).find((c) => c.type === 'PodScheduled' && c.status === 'False');
    this.pods.set(uid, {
      node: p.spec.nodeName ?? '',
      phase: p.status?.phase ?? '',
      reason: p.status?.reason ?? p.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '',
      unschedulable: sched?.reason ?? '',
      running: p.status?.phase === 'Running',
      ready: isReady(p),
    });
    this.mark();
  }

  /** Starts the watch from `rv` (the list's resourceVersion); reconnects when the server ends it. */
  watch(rv) {
    this.rv = rv;
    const open = () => {
      if (this.closed) return;
      const url = new URL(`/api/v1/namespaces/${this.ns}/pods?watch=1&allowWatchBookmarks=true&resourceVersion=${this.rv}`, this.cluster.server);
      let buf = '';
      this.req = https.get(url, { ca: this.cluster.caPEM, headers: { Authorization: `Bearer ${this.cluster.adminToken}` } }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d) => {
          buf += d;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.trim()) continue;
            const ev = JSON.parse(line);
            if (ev.type === 'ERROR') {
              this.error = new Error(`pod watch: ${ev.object?.message} (a 410 means the benchmark fell behind; rerun)`);
              this.close();
              return;
            }
            this.apply(ev.type, ev.object);
          }
        });
        res.on('end', () => {
          this.watchRestarts++;
          open();
        });
      });
      this.req.on('error', (err) => {
        if (!this.closed) this.error = err;
      });
    };
    open();
  }

  close() {
    this.closed = true;
    this.req?.destroy();
  }
}
