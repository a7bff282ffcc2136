"""Time the release core spends per lease renewal and per status push under wasm3 (pywasm3).

Not a test: prints figures for the README. Run with the venv tests/wasm3/run.sh creates:
    build/wasm3-venv/bin/python tests/wasm3/bench.py
An hour of virtual time runs twice: quietly (renewals, one status push per 5 min), and with free heap
crossing the MemoryPressure line at every 10 s evaluation (a status push and an annotation each time).
Every export call, including __collect, is timed.
"""

import pathlib
import time

from harness import Clock, Core, Driver, FakeApiServer
import kubelet_abi as abi

ROOT = pathlib.Path(__file__).resolve().parents[2]
WASM = ROOT / "build" / "picokubelet.wasm"
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


def hour(data, flip):
    clock = Clock()
    core = TimedCore(data)
    drv = Driver(core, FakeApiServer(clock), clock)
    drv.boot(CONFIG)
    drv.link()
    drv.run_until(lambda: core.stat(abi.STAT_PHASE) == abi.PHASE_RUNNING)
    start_now, t0 = clock.now, core.seconds
    r0, p0 = core.stat(abi.STAT_RENEWALS), core.stat(abi.STAT_STATUS_PUSHES)
    next_flip = clock.now
    while clock.now - start_now < 3_600_000:
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
