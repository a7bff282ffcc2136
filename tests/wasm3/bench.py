"""Time the release core spends per lease renewal and per status push under wasm3 (pywasm3).

Not a test: prints figures for the README. Run with the venv tests/wasm3/run.sh creates:
    build/wasm3-venv/bin/python tests/wasm3/bench.py            (PICOKUBELET_WASM=FILE for another build)
An hour of virtual time runs twice: quietly (renewals, one status push per 5 min), and with free heap
crossing the MemoryPressure line at every 10 s evaluation (a status push and an annotation each time).
Every export call, including __collect, is timed. The API server answers the core's pod and node watches
(WatchingApiServer), so the quiet hour measures renewals, not watches failing and retrying.
"""

import json
import os
import pathlib
import time

from harness import Clock, Core, Driver, FakeApiServer
import kubelet_abi as abi

ROOT = pathlib.Path(__file__).resolve().parents[2]
# $PICOKUBELET_WASM compares another build, as tests/wasm3/run.sh and the V8 bench allow.
WASM = pathlib.Path(os.environ.get("PICOKUBELET_WASM", ROOT / "build" / "picokubelet.wasm"))
CONFIG = {"nodeName": "wasm3-bench", "apiHost": "127.0.0.1", "apiPort": 6443, "token": "t"}


class TimedCore(Core):
    """A Core that accumulates the wall time of every export call and lets the bench choose the heap."""

    def __init__(self, data):
        self.seconds = 0.0
        self.heap_free = 300 * 1024
        super().__init__(data)

    def call(self, name, *args):
        if name == "on_heap":
            args = (args[0], self.heap_free, 320 * 1024)
        t0 = time.perf_counter()
        try:
            return super().call(name, *args)
        finally:
            self.seconds += time.perf_counter() - t0


class WatchingApiServer(FakeApiServer):
    """FakeApiServer that also serves the watches the core opens once Running (harness.py answers them 404).

    A watch with sendInitialEvents gets its initial events (the Node for the node watch; no pods) and the
    bookmark that ends them, in a chunked 200 that stays open; after that a bookmark about every minute
    (`bookmarks`), as the API server's watch cache sends on a quiet node.
    """

    def __init__(self, clock):
        super().__init__(clock)
        self.watches = {}       # connection -> the kind its watch carries ("Pod", "Node")
        self._conn = None

    def feed(self, conn, data):
        self._conn = conn
        return super().feed(conn, data)

    def close(self, conn):
        self.watches.pop(conn, None)
        super().close(conn)

    def bookmarks(self):
        """(conn, bytes) of one BOOKMARK event for every open watch."""
        return [(conn, self._chunk({"type": "BOOKMARK", "object": {
            "kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": str(next(self.rv))}}}))
            for conn, kind in sorted(self.watches.items())]

    @staticmethod
    def _chunk(event):
        line = (json.dumps(event) + "\n").encode()
        return f"{len(line):x}\r\n".encode() + line + b"\r\n"

    def respond(self, method, path, headers, body):
        pods = path.startswith("/api/v1/pods?")
        if method != "GET" or not (pods or path.startswith("/api/v1/nodes?")) or "watch=1" not in path:
            return super().respond(method, path, headers, body)
        kind = "Pod" if pods else "Node"
        events = []
        if not pods:
            events += [{"type": "ADDED", "object": node} for key, node in self.objects.items()
                       if key.startswith("/api/v1/nodes/") and key.count("/") == 4]
        events.append({"type": "BOOKMARK", "object": {
            "kind": kind, "apiVersion": "v1",
            "metadata": {"resourceVersion": str(next(self.rv)), "annotations": {"k8s.io/initial-events-end": "true"}}}})
        self.watches[self._conn] = kind
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Date: {self.date()}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        return head + b"".join(self._chunk(ev) for ev in events)


def hour(data, flip):
    clock = Clock()
    core = TimedCore(data)
    server = WatchingApiServer(clock)
    drv = Driver(core, server, clock)
    drv.boot(CONFIG)
    drv.link()
    drv.run_until(lambda: core.stat(abi.STAT_PHASE) == abi.PHASE_RUNNING)
    start_now, t0 = clock.now, core.seconds
    r0, p0 = core.stat(abi.STAT_RENEWALS), core.stat(abi.STAT_STATUS_PUSHES)
    next_flip = next_bookmark = clock.now
    while clock.now - start_now < 3_600_000:
        if clock.now >= next_bookmark:
            drv.events += [("data", conn, chunk) for conn, chunk in server.bookmarks()]
            next_bookmark = clock.now + 60_000
        if flip and clock.now >= next_flip:
            core.heap_free = 15_000 if core.heap_free != 15_000 else 300 * 1024
            next_flip = clock.now + 10_000
        if not drv.step():
            break
    return core.seconds - t0, core.stat(abi.STAT_RENEWALS) - r0, core.stat(abi.STAT_STATUS_PUSHES) - p0


def main():
    data = WASM.read_bytes()
    quiet_s, renewals, quiet_pushes = hour(data, False)
    busy_s, _, busy_pushes = hour(data, True)
    per_renewal = quiet_s / renewals
    per_push = (busy_s - quiet_s) / max(1, busy_pushes - quiet_pushes)
    print(f"wasm3 (pywasm3), module {len(data)} B")
    print(f"time per lease renewal inside the module (wasm3, incl. GC): {per_renewal * 1e3:.2f} ms "
          f"({renewals} renewals, {quiet_pushes} pushes in an hour)")
    print(f"time per status push + annotation inside the module (wasm3, incl. GC): {per_push * 1e3:.2f} ms "
          f"({busy_pushes} pushes in an hour)")


if __name__ == "__main__":
    main()
