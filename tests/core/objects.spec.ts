/** Byte-exact request bodies (field order and values as in docs/behaviour.md#node-object and #lease). */
import { annotationPatch, leaseBody, leaseRenewPatch, leaseAdoptPatch, labelsPatch, nodeBody, statusPatch, Identity, StatusExtras } from "../../assembly/node/objects";
import { parseConfig, Config } from "../../assembly/node/config";
import { ConditionTracker, Signals } from "../../assembly/node/conditions";
import { ByteBuffer, utf8 } from "../../assembly/util/bytes";

function config(extra: string = ""): Config {
  const b = utf8('{"nodeName":"esp-node-01-guenther","apiHost":"192.168.0.103"' + extra + "}");
  return parseConfig(b.ptr, b.length);
}

function identity(): Identity {
  const id = new Identity();
  id.ip = "10.42.0.7";
  id.bootId = "b0070000-0000-4000-8000-000000000001";
  id.systemUuid = "00000000-0000-0000-0000-0000c0a8006f";
  id.machineId = "picokubelet-esp-node-01-guenther";
  return id;
}

const RENEW: i64 = 1777736837000;

describe("golden bodies", () => {
  it("annotation for 12345 free bytes is exact", () => {
    const b = new ByteBuffer(64, 1024);
    annotationPatch(b, 12345);
    expect(b.toString()).toBe('{"metadata":{"annotations":{"node.specht.dev/heap-bytes-free":"12345"}}}');
  });
  it("lease create body carries the owner reference, duration 40 and the exact renewTime", () => {
    const b = new ByteBuffer(64, 2048);
    leaseBody(b, config(), "uid-1", RENEW);
    expect(b.toString()).toBe(
      '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"esp-node-01-guenther",' +
      '"namespace":"kube-node-lease","ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"esp-node-01-guenther","uid":"uid-1"}]},' +
      '"spec":{"holderIdentity":"esp-node-01-guenther","leaseDurationSeconds":40,"renewTime":"2026-05-02T15:47:17.000000Z"}}',
    );
  });
  it("renewal is a small merge patch with microsecond renewTime", () => {
    const b = new ByteBuffer(64, 2048);
    leaseRenewPatch(b, config(), RENEW + 250);
    expect(b.toString()).toBe('{"spec":{"holderIdentity":"esp-node-01-guenther","leaseDurationSeconds":40,"renewTime":"2026-05-02T15:47:17.250000Z"}}');
    expect(b.length).toBeLessThan(160);
  });
  it("lease adoption sets our owner reference and spec", () => {
    const b = new ByteBuffer(64, 2048);
    leaseAdoptPatch(b, config(), "uid-2", RENEW);
    expect(b.toString()).toBe(
      '{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"esp-node-01-guenther","uid":"uid-2"}]},' +
      '"spec":{"holderIdentity":"esp-node-01-guenther","leaseDurationSeconds":40,"renewTime":"2026-05-02T15:47:17.000000Z"}}',
    );
  });
  it("labels patch carries every label", () => {
    const b = new ByteBuffer(64, 2048);
    labelsPatch(b, config(',"labels":{"rack":"r1"}'));
    expect(b.toString()).toBe(
      '{"metadata":{"labels":{"kubernetes.io/hostname":"esp-node-01-guenther","kubernetes.io/arch":"xtensa-lx7",' +
      '"kubernetes.io/os":"no_std","node.kubernetes.io/instance-type":"esp32-s3-r8","hardware":"esp32-s3","arch":"xtensa-lx7",' +
      '"node.specht.dev/cursed":"true","rack":"r1"}}}',
    );
  });
  it("node body has labels, taint, capacity, nodeInfo, addresses and conditions, no kubelet port", () => {
    const t = new ConditionTracker();
    const s = new Signals();
    s.freeHeap = 102400;
    s.uptimeSeconds = 1;
    t.evaluateAll(s, RENEW);
    const b = new ByteBuffer(1024, 8192);
    nodeBody(b, config(), identity(), t, RENEW);
    const text = b.toString();
    expect(text.startsWith('{"apiVersion":"v1","kind":"Node","metadata":{"name":"esp-node-01-guenther","labels":{"kubernetes.io/hostname":"esp-node-01-guenther"')).toBe(true);
    expect(text.includes('"spec":{"taints":[{"key":"picokubelet.dev/no-containers","value":"true","effect":"NoSchedule"}]}')).toBe(true, '"spec":{"taints":[{"key":"picokubelet.dev/no-containers","value":"true","effect":"NoSchedule"}]}');
    expect(text.includes('"capacity":{"cpu":"240m","memory":"320Ki","pods":"1"},"allocatable":{"cpu":"240m","memory":"320Ki","pods":"1"}')).toBe(true, '"capacity":{"cpu":"240m","memory":"320Ki","pods":"1"},"allocatable":{"cpu":"240m","memory":"320Ki","pods":"1"}');
    expect(text.includes('"nodeInfo":{"machineID":"picokubelet-esp-node-01-guenther","systemUUID":"00000000-0000-0000-0000-0000c0a8006f","bootID":"b0070000-0000-4000-8000-000000000001"')).toBe(true, '"nodeInfo":{"machineID":"picokubelet-esp-node-01-guenther","systemUUID":"00000000-0000-0000-0000-0000c0a8006f","bootID":"b0070000-0000-4000-8000-000000000001"');
    expect(text.includes('"addresses":[{"type":"InternalIP","address":"10.42.0.7"}]')).toBe(true, "InternalIP only: no hostname configured");
    expect(text.includes("daemonEndpoints")).toBe(false);
    expect(text.includes('{"type":"Ready","status":"True","reason":"KubeletReady"')).toBe(true, '{"type":"Ready","status":"True","reason":"KubeletReady"');
    expect(text.includes('"lastHeartbeatTime":"2026-05-02T15:47:17Z","lastTransitionTime":"2026-05-02T15:47:17Z"')).toBe(true, '"lastHeartbeatTime":"2026-05-02T15:47:17Z","lastTransitionTime":"2026-05-02T15:47:17Z"');
    const ready = text.indexOf('"type":"Ready"');
    const vibes = text.indexOf('"type":"Vibes"');
    const haunted = text.indexOf('"type":"Haunted"');
    expect(ready).toBeLessThan(vibes);
    expect(vibes).toBeLessThan(haunted);
  });
  it("advertises the kubelet port only once the host listens on it", () => {
    const b = new ByteBuffer(1024, 8192);
    nodeBody(b, config(',"kubeletPort":10250'), identity(), new ConditionTracker(), RENEW);
    expect(b.toString().includes("daemonEndpoints")).toBe(false, "configured but not listening");
    b.clear();
    const id = identity();
    id.kubeletPort = 10250;
    nodeBody(b, config(',"kubeletPort":10250'), id, new ConditionTracker(), RENEW);
    expect(b.toString().includes('"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}')).toBe(true, '"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}');
  });
  it("status patch is only conditions, plus addresses or everything when asked", () => {
    const t = new ConditionTracker();
    const s = new Signals();
    s.freeHeap = 50000;
    s.uptimeSeconds = 700;
    t.evaluateAll(s, RENEW);
    const b = new ByteBuffer(1024, 8192);
    statusPatch(b, config(), identity(), t, RENEW + 60000, StatusExtras.None);
    const text = b.toString();
    expect(text.startsWith('{"status":{"conditions":[{"type":"Ready"')).toBe(true);
    expect(text.includes('"lastHeartbeatTime":"2026-05-02T15:48:17Z","lastTransitionTime":"2026-05-02T15:47:17Z"')).toBe(true, '"lastHeartbeatTime":"2026-05-02T15:48:17Z","lastTransitionTime":"2026-05-02T15:47:17Z"');
    expect(text.includes("addresses")).toBe(false);
    b.clear();
    statusPatch(b, config(), identity(), t, RENEW, StatusExtras.Addresses);
    // The list replaces the server's: a Hostname an older version reported goes away.
    expect(b.toString().startsWith('{"status":{"addresses":[{"$patch":"replace"},{"type":"InternalIP","address":"10.42.0.7"}],')).toBe(true, b.toString());
    b.clear();
    statusPatch(b, config(',"hostname":"pico.lan"'), identity(), t, RENEW, StatusExtras.Addresses);
    expect(b.toString().startsWith('{"status":{"addresses":[{"$patch":"replace"},{"type":"InternalIP","address":"10.42.0.7"},{"type":"Hostname","address":"pico.lan"}],')).toBe(true, b.toString());
    expect(config(',"hostname":"Not A Name"').errors.length).toBe(1);
    b.clear();
    statusPatch(b, config(), identity(), t, RENEW, StatusExtras.All);
    expect(b.toString().startsWith('{"status":{"capacity":')).toBe(true);
    expect(b.toString().includes('"nodeInfo"')).toBe(true, '"nodeInfo"');
    expect(b.length).toBeLessThan(4096);
  });
});
