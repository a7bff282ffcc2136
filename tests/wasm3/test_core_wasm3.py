"""The release core (build/picokubelet.wasm) under a real wasm3 interpreter (pywasm3), through its ABI.

What this proves: the module loads, links and compiles in wasm3 with exactly the imports the C host
links; it registers a Node, creates its Lease and renews it in a scripted byte-level HTTP conversation;
linear memory stays flat over hundreds of renewals with the ABI's GC policy (__collect after each
event); a rebuilt runtime with the same configuration adopts the Node it registered before.
"""

import os
import pathlib
import re

import pytest

import kubelet_abi as abi
from harness import AbiVersionError, Clock, Core, Driver, FakeApiServer, WasmSignatures

ROOT = pathlib.Path(__file__).resolve().parents[2]
WASM = pathlib.Path(os.environ.get("PICOKUBELET_WASM", ROOT / "build" / "picokubelet.wasm"))
C_MIRROR = ROOT / "firmware" / "components" / "wasm_host" / "include" / "kubelet_abi.h"
ABI_DOC = ROOT / "assembly" / "ABI.md"

NODE = "wasm3-node-01"
LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}"
CONFIG = {"nodeName": NODE, "apiHost": "127.0.0.1", "apiPort": 6443, "serverName": "localhost",
          "token": "test-token-123", "osImage": "pywasm3", "kernelVersion": "wasm3"}


@pytest.fixture(scope="module")
def wasm_bytes():
    if not WASM.exists():
        pytest.fail(f"{WASM} is missing: build it with `npx asc assembly/kubelet.ts --target release`")
    return WASM.read_bytes()


def new_world(wasm_bytes, server=None, clock=None):
    clock = clock or Clock()
    server = server or FakeApiServer(clock)
    core = Core(wasm_bytes)
    return core, server, clock, Driver(core, server, clock)


def phase_name(value):
    return abi.names("PHASE_").get(value, value)


def test_imports_and_exports_match_the_abi_mirrors(wasm_bytes):
    sigs = WasmSignatures(wasm_bytes)
    declared = {k: WasmSignatures.wasm3_signature(v) for k, v in sigs.imports.items()}
    linked = {(m, n): s for m, n, s in abi.IMPORTS}
    assert declared == linked, "the module's imports differ from what the hosts link"
    for name, (params, results) in abi.EXPORTS.items():
        assert sigs.exports.get(name) == (params, results), f"export {name}"
    assert not sigs.memory_imported


def test_python_mirror_matches_c_mirror_and_abi_document():
    header = C_MIRROR.read_text()
    c_values = {m.group(1): int(m.group(2)) for m in re.finditer(r"#define KUBELET_(\w+) \(?(\d+)", header)}
    c_sigs = dict(re.findall(r'#define KUBELET_SIG_(\w+) "([^"]+)"', header))
    py = {k: v for k, v in vars(abi).items() if k.isupper() and isinstance(v, int)}
    for name, value in py.items():
        key = "ABI_VERSION" if name == "ABI_VERSION" else name
        if name in ("IO_BUFFER_SIZE",):
            key = "ABI_IO_BUFFER_SIZE"
        if name in ("CONFIG_MAX_BYTES", "SNAPSHOT_MAX_BYTES"):
            assert value == 16 * 1024
            continue
        assert c_values.get(key) == value, f"{name}: python {value}, C {c_values.get(key)}"
    for _, name, sig in abi.IMPORTS:
        assert c_sigs[name.upper()] == sig, name
    doc = ABI_DOC.read_text()
    for name, value in py.items():
        if name.startswith(("STAT_", "PHASE_", "LED_", "CLOSE_", "ERR_", "OP_")):
            assert re.search(rf"\| {value} \| `{name}` \|", doc), f"{name} = {value} not in ABI.md"
    for _, name, sig in abi.IMPORTS:
        assert f"[`{sig}`]" in doc


def test_boot_register_lease_and_renew(wasm_bytes):
    core, server, clock, drv = new_world(wasm_bytes)
    assert core.io_size == abi.IO_BUFFER_SIZE
    assert drv.boot(CONFIG) == abi.OK
    assert core.stat(abi.STAT_PHASE) == abi.PHASE_ANCHORING
    # nothing is sent before a link is reported
    assert drv.run_until(lambda: False, max_steps=5) is False
    assert drv.connects == [] and server.requests == []
    drv.link(abi.LINK_ETHERNET, 0xC0A8006F)
    assert drv.connects and drv.connects[0][1:] == ("127.0.0.1", 6443, "localhost")

    assert drv.run_until(lambda: core.stat(abi.STAT_RENEWALS) >= 3), (
        f"phase {phase_name(core.stat(abi.STAT_PHASE))}, logs {core.logs[-5:]}")
    assert core.stat(abi.STAT_PHASE) == abi.PHASE_RUNNING
    assert core.stat(abi.STAT_REGISTRATIONS) == 1
    assert core.stat(abi.STAT_WALL_MS) > 1_790_000_000_000

    calls = [(m, p) for _, m, p, _, _ in server.requests]
    assert calls[0] == ("GET", "/version")
    assert calls[1] == ("POST", "/api/v1/nodes")
    assert ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases") in calls
    assert ("PATCH", f"/api/v1/nodes/{NODE}/status") in calls
    assert calls.count(("PATCH", LEASE_PATH)) >= 3
    for _, _, _, headers, _ in server.requests:
        assert headers["authorization"] == "Bearer test-token-123"
        assert headers["host"].startswith("127.0.0.1")
    node = server.objects[f"/api/v1/nodes/{NODE}"]
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    lease = server.objects[LEASE_PATH]
    assert lease["spec"]["holderIdentity"] == NODE
    assert lease["spec"]["leaseDurationSeconds"] == 40
    # LED: Connecting until the Lease exists, then Healthy with an Activity blip per renewal
    assert abi.LED_CONNECTING in core.leds
    assert core.leds.index(abi.LED_HEALTHY) > core.leds.index(abi.LED_CONNECTING)
    assert core.leds.count(abi.LED_ACTIVITY) >= 2
    assert not core.aborts
    assert "test-token-123" not in "\n".join(text for _, text in core.logs)


def test_memory_stays_flat_over_many_renewals(wasm_bytes):
    core, server, clock, drv = new_world(wasm_bytes)
    drv.boot(CONFIG)
    drv.link()
    assert drv.run_until(lambda: core.stat(abi.STAT_RENEWALS) >= 20)
    settled = core.stat(abi.STAT_MEMORY_BYTES)
    assert settled == len(core.memory())
    assert drv.run_until(lambda: core.stat(abi.STAT_RENEWALS) >= 300, max_steps=100000)
    assert core.stat(abi.STAT_RENEW_FAILURES) == 0
    assert core.stat(abi.STAT_PHASE) == abi.PHASE_RUNNING
    after = core.stat(abi.STAT_MEMORY_BYTES)
    assert after == settled, f"linear memory grew from {settled} to {after} bytes over 280 renewals"
    # status was pushed again at least once in the ~50 virtual minutes
    assert core.stat(abi.STAT_STATUS_PUSHES) >= 2
    print(f"linear memory {after} bytes after {core.stat(abi.STAT_RENEWALS)} renewals, "
          f"{len(server.requests)} requests, {drv.calls} events")


def test_rebuilt_runtime_adopts_its_node(wasm_bytes):
    """What the firmware does after a trap: same configuration, new runtime; the Node stays the same."""
    core, server, clock, drv = new_world(wasm_bytes)
    drv.boot(CONFIG)
    drv.link()
    assert drv.run_until(lambda: core.stat(abi.STAT_RENEWALS) >= 1)
    uid = server.objects[f"/api/v1/nodes/{NODE}"]["metadata"]["uid"]
    first_requests = len(server.requests)

    core2, _, _, drv2 = new_world(wasm_bytes, server=server, clock=clock)
    assert drv2.boot(CONFIG, seed=42) == abi.OK
    drv2.link()
    assert drv2.run_until(lambda: core2.stat(abi.STAT_RENEWALS) >= 2), core2.logs[-5:]
    later = [(m, p) for _, m, p, _, _ in server.requests[first_requests:]]
    assert ("POST", "/api/v1/nodes") in later          # answered 409: it exists
    assert ("GET", f"/api/v1/nodes/{NODE}") in later    # adopted
    assert server.objects[f"/api/v1/nodes/{NODE}"]["metadata"]["uid"] == uid
    assert core2.stat(abi.STAT_REGISTRATIONS) == 1


def test_link_down_and_up(wasm_bytes):
    core, server, clock, drv = new_world(wasm_bytes)
    drv.boot(CONFIG)
    drv.link()
    assert drv.run_until(lambda: core.stat(abi.STAT_RENEWALS) >= 1)
    for conn in list(drv.open):
        drv.events.append(("closed", conn, abi.CLOSE_LINK_DOWN))
    drv.run_until(lambda: not drv.events)
    drv.link(abi.LINK_DOWN, 0)
    assert core.leds[-1] == abi.LED_DISCONNECTED
    sent = len(server.requests)
    clock.now += 60_000
    core.call("on_timer", clock.now)
    core.collect()
    drv._absorb()
    assert len(server.requests) == sent, "the core sent while the link was down"
    drv.link(abi.LINK_WIFI, 0xC0A80070, bssid=0x0011223344AA, rssi=-61)
    renewals = core.stat(abi.STAT_RENEWALS)
    assert drv.run_until(lambda: core.stat(abi.STAT_RENEWALS) > renewals)
    assert core.stat(abi.STAT_RECONNECTS) >= 1


def test_config_refused_without_sending(wasm_bytes):
    core, server, clock, drv = new_world(wasm_bytes)
    assert drv.boot({"nodeName": "Not_Valid", "apiHost": "h", "bogus": 1}) == abi.ERR_CONFIG_INVALID
    assert core.stat(abi.STAT_PHASE) == abi.PHASE_FAILED
    assert any(level == abi.LOG_ERROR for level, _ in core.logs)
    drv.link()
    drv.run_until(lambda: False, max_steps=10)
    assert server.requests == []


def test_cleanup_shutdown_deletes_lease_and_node(wasm_bytes):
    core, server, clock, drv = new_world(wasm_bytes)
    drv.boot(CONFIG)
    drv.link()
    assert drv.run_until(lambda: core.stat(abi.STAT_RENEWALS) >= 1)
    core.call("shutdown", clock.now, abi.SHUTDOWN_CLEANUP)
    core.collect()
    drv._absorb()
    assert drv.run_until(lambda: core.stat(abi.STAT_PHASE) == abi.PHASE_STOPPED)
    deletes = [p for _, m, p, _, _ in server.requests if m == "DELETE"]
    assert LEASE_PATH in deletes and f"/api/v1/nodes/{NODE}" in deletes
    assert f"/api/v1/nodes/{NODE}" not in server.objects


def test_flow_control_under_wasm3(wasm_bytes):
    """ABI v2: a host taking 5 bytes per send (and asking for on_writable) still carries whole requests."""
    clock = Clock()
    server = FakeApiServer(clock)
    core = Core(wasm_bytes, send_budget=5)
    drv = Driver(core, server, clock)
    assert drv.boot(CONFIG) == abi.OK
    drv.link()
    assert drv.run_until(lambda: core.stat(abi.STAT_RENEWALS) >= 2), core.logs[-5:]
    assert core.stat(abi.STAT_SENDS_DEFERRED) > 100
    assert core.stat(abi.STAT_REGISTRATIONS) == 1
    assert not core.aborts


def test_host_call_refused_under_wasm3(wasm_bytes):
    """kubeletPort with a host that cannot listen: OP_LISTEN refused at once, the port is not advertised."""
    core, server, clock, drv = new_world(wasm_bytes)
    assert drv.boot({**CONFIG, "kubeletPort": 10250}) == abi.OK
    assert [(op, arg) for _, op, arg, _ in core.host_calls] == [(abi.OP_LISTEN, 10250)]
    drv.link()
    assert drv.run_until(lambda: core.stat(abi.STAT_RENEWALS) >= 1)
    assert core.stat(abi.STAT_LISTEN_PORT) == 0
    # OP_LISTEN, then the serving certificate manager's OP_CERT_INFO once running (refused too: no CSR).
    assert [op for _, op, _, _ in core.host_calls] == [abi.OP_LISTEN, abi.OP_CERT_INFO]
    assert core.stat(abi.STAT_HOST_CALLS) == 2
    assert all(b"daemonEndpoints" not in body for _, _, _, _, body in server.requests)
    assert any("cannot listen on the kubelet port 10250" in text for _, text in core.logs)


def _v1_module():
    """A minimal version-1 module: v1's send import (no result) and abi_version() returning 1."""
    def leb(n):
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def sec(sid, body):
        return bytes([sid]) + leb(len(body)) + body

    def name(s):
        return leb(len(s)) + s.encode()

    types = leb(2) + b"\x60\x03\x7f\x7f\x7f\x00" + b"\x60\x00\x01\x7f"
    imports = leb(1) + name("picokubelet") + name("send") + b"\x00" + leb(0)
    funcs = leb(1) + leb(1)
    memory = leb(1) + b"\x00\x01"
    exports = leb(2) + name("abi_version") + b"\x00" + leb(1) + name("memory") + b"\x02" + leb(0)
    body = b"\x00\x41\x01\x0b"
    code = leb(1) + leb(len(body)) + body
    return (b"\x00asm\x01\x00\x00\x00" + sec(1, types) + sec(2, imports) + sec(3, funcs) + sec(5, memory)
            + sec(7, exports) + sec(10, code))


def test_v1_module_refused_before_linking():
    with pytest.raises(AbiVersionError, match=r"ABI version 1; this harness runs version 2\.\.2: rebuild the core"):
        Core(_v1_module())
