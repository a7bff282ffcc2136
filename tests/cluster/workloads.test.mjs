// The controllers workloads need (issue 9 item 7), against the real
// kube-controller-manager: Deployments, ReplicaSets, DaemonSets, Jobs with
// ttl-after-finished, PodDisruptionBudgets and `kubectl drain`, the garbage
// collector, and namespaces with their service accounts and tokens.
//
// No kubelet runs here. Where a kubelet would report (a pod Running and Ready,
// a pod Succeeded, a node's Lease) the test writes that status itself as admin,
// so what is checked is only what the controllers do with it. Every pod is kept
// to nodes this file creates (a unique label and a taint only its pods
// tolerate), so suites running at the same time are not disturbed.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  MERGE_PATCH,
  STRATEGIC_PATCH,
  api,
  cleanup,
  cluster,
  kubectl,
  leaseManifest,
  microTime,
  nodeManifest,
  readyStatusPatch,
  uniqueName,
  waitUntil,
} from './helpers.mjs';

const NS = 'default';
const run = uniqueName('pk-wl');
const LABEL = 'picokubelet.dev/workloads-test';
const TAINT = { key: LABEL, value: run, effect: 'NoSchedule' };
// Infrastructure-DaemonSet style: tolerate everything (also a cordon), select by label.
const TOLERATE_ALL = [{ operator: 'Exists' }];
// A workload's pods: our taint, and not-ready until the node-lifecycle controller
// has seen the fake node's Ready status; a cordon is not tolerated.
const TOLERATE_OURS = [
  { key: TAINT.key, operator: 'Equal', value: TAINT.value, effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoSchedule' },
];
const toDelete = [];
const stopRenewing = [];
after(async () => {
  for (const stop of stopRenewing) stop();
  await cleanup(toDelete.reverse());
});

const apps = (kind, name = '') => `/apis/apps/v1/namespaces/${NS}/${kind}${name ? `/${name}` : ''}`;
const pods = (selector) => api('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(selector)}`).then((r) => r.json.items);
const ownedBy = (obj, kind, uid) => (obj.metadata.ownerReferences || []).some((o) => o.kind === kind && o.uid === uid && o.controller === true);
const gone = async (p) => (await api('GET', p)).status === 404;

async function create(collection, body, { deletePath } = {}) {
  const r = await api('POST', collection, { body });
  assert.equal(r.status, 201, `POST ${collection}: ${r.text}`);
  toDelete.push(deletePath || `${collection}/${body.metadata.name}`);
  return r.json;
}

function podTemplate(app, { nodeLabel = run, grace = 0, tolerations = TOLERATE_OURS } = {}) {
  return {
    metadata: { labels: { app } },
    spec: {
      nodeSelector: { [LABEL]: nodeLabel },
      tolerations,
      terminationGracePeriodSeconds: grace,
      containers: [{ name: 'c', image: 'registry.invalid/never-pulled:1' }],
    },
  };
}

/** What a kubelet would write for a started, ready container. */
async function markRunningReady(pod) {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const cond = (type) => ({ type, status: 'True', lastTransitionTime: now });
  const r = await api('PATCH', `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}/status`, {
    contentType: STRATEGIC_PATCH,
    body: {
      metadata: { uid: pod.metadata.uid },
      status: {
        phase: 'Running',
        startTime: now,
        conditions: ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready'].map(cond),
        containerStatuses: [
          { name: 'c', ready: true, started: true, restartCount: 0, image: 'registry.invalid/never-pulled:1', imageID: '', state: { running: { startedAt: now } } },
        ],
      },
    },
  });
  assert.equal(r.status, 200, r.text);
}

/** A Node with our label and taint, Ready, whose Lease is renewed until the file ends. */
async function fakeNode(name) {
  const body = nodeManifest(name, { taints: [TAINT] });
  body.metadata.labels[LABEL] = run;
  const node = await create('/api/v1/nodes', body);
  await create('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', leaseManifest(name, node.metadata.uid));
  const st = await api('PATCH', `/api/v1/nodes/${name}/status`, { contentType: STRATEGIC_PATCH, body: readyStatusPatch() });
  assert.equal(st.status, 200, st.text);
  // Renewals keep the node-lifecycle controller from marking the node (and so
  // its pods) not ready halfway through a test.
  const timer = setInterval(() => {
    api('PATCH', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`, {
      contentType: MERGE_PATCH,
      body: { spec: { renewTime: microTime() } },
    }).catch(() => {});
  }, 2000);
  stopRenewing.push(() => clearInterval(timer));
  return node;
}

test('kube-controller-manager runs the workload controllers', () => {
  for (const c of [
    'deployment-controller',
    'replicaset-controller',
    'daemonset-controller',
    'statefulset-controller',
    'job-controller',
    'cronjob-controller',
    'ttl-after-finished-controller',
    'disruption-controller',
    'garbage-collector-controller',
    'namespace-controller',
    'serviceaccount-controller',
    'serviceaccount-token-controller',
  ]) {
    assert.ok(cluster.controllers.includes(c), `${c} missing from ${cluster.controllers.join(',')}`);
  }
});

test('a new namespace gets its default ServiceAccount, kube-root-ca.crt and filled token Secrets, and its deletion completes', async () => {
  const ns = uniqueName('pk-wl-ns');
  await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const sa = await waitUntil('the default ServiceAccount (serviceaccount-controller)', async () => {
    const r = await api('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`);
    return r.status === 200 ? r.json : null;
  });
  assert.equal(sa.metadata.name, 'default');
  const cm = await waitUntil('kube-root-ca.crt (root-ca-certificate-publisher)', async () => {
    const r = await api('GET', `/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`);
    return r.status === 200 ? r.json : null;
  });
  assert.equal(cm.data['ca.crt'].trim(), cluster.caPEM.trim());
  // A legacy token Secret is filled in by the serviceaccount-token-controller.
  const secret = `${ns}-token`;
  const s = await api('POST', `/api/v1/namespaces/${ns}/secrets`, {
    body: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret, annotations: { 'kubernetes.io/service-account.name': 'default' } },
      type: 'kubernetes.io/service-account-token',
    },
  });
  assert.equal(s.status, 201, s.text);
  const filled = await waitUntil('the token in the Secret', async () => {
    const r = await api('GET', `/api/v1/namespaces/${ns}/secrets/${secret}`);
    return r.json?.data?.token ? r.json : null;
  });
  const jwt = Buffer.from(filled.data.token, 'base64').toString();
  const payload = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
  assert.equal(payload.sub, `system:serviceaccount:${ns}:default`);
  assert.equal(Buffer.from(filled.data['ca.crt'], 'base64').toString().trim(), cluster.caPEM.trim());
  // The token authenticates as the ServiceAccount (never logged).
  const review = await api('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    auth: { token: jwt },
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  assert.equal(review.status, 201, review.text);
  assert.equal(review.json.status.userInfo.username, `system:serviceaccount:${ns}:default`);

  // Something that needs the namespace controller to empty it: a Deployment
  // (whose ReplicaSet and Pod appear in the namespace) and a ConfigMap.
  const d = await api('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: podTemplate('web', { nodeLabel: 'none' }) },
    },
  });
  assert.equal(d.status, 201, d.text);
  await waitUntil('a pod in the namespace', async () => (await api('GET', `/api/v1/namespaces/${ns}/pods`)).json.items.length > 0);
  const del = await api('DELETE', `/api/v1/namespaces/${ns}`);
  assert.equal(del.status, 200, del.text);
  assert.equal(del.json.status.phase, 'Terminating');
  await waitUntil(`namespace ${ns} to be gone`, () => gone(`/api/v1/namespaces/${ns}`), { timeoutMs: 90_000, intervalMs: 500 });
});

test('a Deployment gets a ReplicaSet and a Pod, rolls out once its pod is Ready, and a PodDisruptionBudget holds `kubectl drain` until lifted', async () => {
  const node = uniqueName('pk-wl-node');
  await fakeNode(node);
  const app = `${run}-web`;
  const dep = await create(apps('deployments'), {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app },
    spec: { replicas: 1, selector: { matchLabels: { app } }, template: podTemplate(app) },
  });

  const rs = await waitUntil('a ReplicaSet owned by the Deployment (deployment-controller)', async () => {
    const items = (await api('GET', `${apps('replicasets')}?labelSelector=app%3D${app}`)).json.items;
    return items.find((r) => ownedBy(r, 'Deployment', dep.metadata.uid));
  });
  assert.equal(rs.spec.replicas, 1);
  const pod = await waitUntil('a Pod owned by the ReplicaSet (replicaset-controller), bound by the scheduler', async () => {
    const p = (await pods(`app=${app}`)).find((x) => ownedBy(x, 'ReplicaSet', rs.metadata.uid));
    return p?.spec.nodeName ? p : null;
  });
  assert.equal(pod.spec.nodeName, node);
  assert.equal(pod.status.phase, 'Pending');

  // Not rolled out while the pod is not ready.
  const waiting = await kubectl(['-n', NS, 'rollout', 'status', `deployment/${app}`, '--timeout=2s'], { allowFail: true });
  assert.notEqual(waiting.code, 0);
  assert.match(waiting.stdout + waiting.stderr, /Waiting for deployment .* 0 of 1 updated replicas are available/);

  await markRunningReady(pod);
  const done = await kubectl(['-n', NS, 'rollout', 'status', `deployment/${app}`, '--timeout=60s']);
  assert.match(done.stdout, /successfully rolled out/);

  const pdbPath = `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/${app}`;
  const pdb = await create(`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets`, {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: app },
    spec: { minAvailable: 1, selector: { matchLabels: { app } } },
  });
  const st = await waitUntil('the PDB status (disruption-controller)', async () => {
    const s = (await api('GET', pdbPath)).json.status;
    return s?.observedGeneration === pdb.metadata.generation && s.expectedPods === 1 ? s : null;
  });
  assert.equal(st.currentHealthy, 1);
  assert.equal(st.disruptionsAllowed, 0);
  const held = await kubectl(['drain', node, '--ignore-daemonsets', '--timeout=6s'], { allowFail: true });
  assert.notEqual(held.code, 0, 'drain must not evict against the budget');
  assert.match(held.stderr + held.stdout, /disruption budget/);
  assert.equal((await api('GET', `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`)).status, 200, 'the pod must still exist');

  const lifted = await api('PATCH', pdbPath, { contentType: MERGE_PATCH, body: { spec: { minAvailable: 0 } } });
  assert.equal(lifted.status, 200, lifted.text);
  await waitUntil('the PDB to allow a disruption', async () => (await api('GET', pdbPath)).json.status?.disruptionsAllowed === 1);
  await kubectl(['drain', node, '--ignore-daemonsets', '--timeout=60s']);
  assert.ok(await gone(`/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`), 'the evicted pod is deleted');
  const cordoned = (await api('GET', `/api/v1/nodes/${node}`)).json;
  assert.equal(cordoned.spec.unschedulable, true);
  // The ReplicaSet replaces the evicted pod; the cordoned node does not take it.
  const replacement = await waitUntil('a replacement pod', async () => (await pods(`app=${app}`)).find((p) => p.metadata.uid !== pod.metadata.uid));
  assert.ok(!replacement.spec.nodeName);

  // Deleting the Deployment garbage-collects its ReplicaSet and pods.
  const del = await api('DELETE', apps('deployments', app), { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' } });
  assert.equal(del.status, 200, del.text);
  await waitUntil('the ReplicaSet to be collected', () => gone(apps('replicasets', rs.metadata.name)), { timeoutMs: 60_000 });
  await waitUntil('the pods to be collected', async () => (await pods(`app=${app}`)).length === 0, { timeoutMs: 60_000 });
});

test('a Job creates a Pod, `kubectl wait --for=condition=complete` returns when it succeeds, and ttl-after-finished deletes Job and pod', async () => {
  const job = `${run}-job`;
  const jobPath = `/apis/batch/v1/namespaces/${NS}/jobs/${job}`;
  const tpl = podTemplate(job, { nodeLabel: 'none' });
  const created = await create(`/apis/batch/v1/namespaces/${NS}/jobs`, {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: job },
    // Long enough for `kubectl wait` to see Complete, short enough to watch the deletion.
    spec: { ttlSecondsAfterFinished: 3, backoffLimit: 0, template: { ...tpl, spec: { ...tpl.spec, restartPolicy: 'Never' } } },
  });
  const pod = await waitUntil('the Job pod (job-controller)', async () =>
    (await pods(`batch.kubernetes.io/job-name=${job}`)).find((p) => ownedBy(p, 'Job', created.metadata.uid)),
  );
  assert.ok(pod.metadata.finalizers.includes('batch.kubernetes.io/job-tracking'));
  await waitUntil('status.active = 1', async () => (await api('GET', jobPath)).json.status?.active === 1);
  const early = await kubectl(['-n', NS, 'wait', '--for=condition=complete', `job/${job}`, '--timeout=1s'], { allowFail: true });
  assert.notEqual(early.code, 0, 'not complete while its pod runs');

  const waiter = kubectl(['-n', NS, 'wait', '--for=condition=complete', `job/${job}`, '--timeout=60s'], { allowFail: true });
  // The container "exits 0", as a kubelet would report it.
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const r = await api('PATCH', `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}/status`, {
    contentType: STRATEGIC_PATCH,
    body: {
      metadata: { uid: pod.metadata.uid },
      status: {
        phase: 'Succeeded',
        containerStatuses: [
          {
            name: 'c',
            ready: false,
            started: false,
            restartCount: 0,
            image: 'registry.invalid/never-pulled:1',
            imageID: '',
            state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } },
          },
        ],
      },
    },
  });
  assert.equal(r.status, 200, r.text);
  const w = await waiter;
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stdout, /condition met/);
  await waitUntil('the Job to be deleted (ttl-after-finished)', () => gone(jobPath), { timeoutMs: 60_000 });
  await waitUntil('the Job pod to be collected', () => gone(`/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`), { timeoutMs: 60_000 });
});

test('a DaemonSet reports status and creates one pod per matching node', async () => {
  const ds = `${run}-ds`;
  const node = uniqueName('pk-wl-dsnode');
  const created = await create(apps('daemonsets'), {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: ds },
    spec: { selector: { matchLabels: { app: ds } }, template: podTemplate(ds, { nodeLabel: node, tolerations: TOLERATE_ALL }) },
  });
  const st0 = await waitUntil('the DaemonSet status (daemonset-controller)', async () => {
    const s = (await api('GET', apps('daemonsets', ds))).json.status;
    return s?.observedGeneration === created.metadata.generation ? s : null;
  });
  assert.equal(st0.desiredNumberScheduled, 0);
  const ro = await kubectl(['-n', NS, 'rollout', 'status', `daemonset/${ds}`, '--timeout=30s']);
  assert.match(ro.stdout, /successfully rolled out/);

  // A node carrying the DaemonSet's label gets its pod, pinned to it by node affinity.
  const body = nodeManifest(node, { taints: [TAINT] });
  body.metadata.labels[LABEL] = node;
  await create('/api/v1/nodes', body);
  const pod = await waitUntil('the DaemonSet pod', async () => (await pods(`app=${ds}`)).find((p) => ownedBy(p, 'DaemonSet', created.metadata.uid)));
  const terms = pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
  assert.deepEqual(terms[0].matchFields, [{ key: 'metadata.name', operator: 'In', values: [node] }]);
  const st1 = await waitUntil('desiredNumberScheduled = 1', async () => {
    const s = (await api('GET', apps('daemonsets', ds))).json.status;
    return s?.desiredNumberScheduled === 1 && s.currentNumberScheduled === 1 ? s : null;
  });
  assert.equal(st1.numberReady, 0);

  const del = await api('DELETE', apps('daemonsets', ds), { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' } });
  assert.equal(del.status, 200, del.text);
  await waitUntil('the DaemonSet pod to be collected', () => gone(`/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`), { timeoutMs: 60_000 });
});
