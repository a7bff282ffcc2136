"""Drive the picokubelet core under wasm3 (pywasm3) through its ABI, byte for byte, with no network.

- WasmSignatures reads the module's import and export sections, to check them against kubelet_abi.py.
- Core loads the .wasm into a wasm3 runtime, links every import the C host links (same names, same
  signatures, same bounds checks), and wraps the exports. Actions the core takes during a call are
  recorded and turned into events afterwards (ABI.md: no re-entrancy).
- FakeApiServer answers the core's HTTP/1.1 requests like a small API server would (Date header on
  /version, 201 + uid on create, 409 for an existing object, resourceVersions), per connection, with
  keep-alive and byte-level parsing.
- Driver runs the event loop on a virtual clock: deliver one event, __collect(), ask next_deadline(),
  jump the clock to it when idle. A day of renewals takes seconds.
"""

import email.utils
import itertools
import json
import struct

import wasm3

import kubelet_abi as abi

VALTYPES = {0x7F: "i", 0x7E: "I", 0x7D: "f", 0x7C: "F"}


def _uleb(data, pos):
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _name(data, pos):
    n, pos = _uleb(data, pos)
    return data[pos:pos + n].decode(), pos + n


class WasmSignatures:
    """Function imports and exports of a module with their signatures in wasm3 letters."""

    def __init__(self, data):
        assert data[:8] == b"\0asm\x01\0\0\0", "not a wasm module"
        self.types, self.imports, self.exports, self.memory_imported = [], {}, {}, False
        func_types = []  # type index of each function (imports first)
        pos = 8
        while pos < len(data):
            sid = data[pos]
            size, pos = _uleb(data, pos + 1)
            body, end = pos, pos + size
            if sid == 1:
                count, body = _uleb(data, body)
                for _ in range(count):
                    assert data[body] == 0x60
                    n, body = _uleb(data, body + 1)
                    params = "".join(VALTYPES[t] for t in data[body:body + n])
                    body += n
                    n, body = _uleb(data, body)
                    results = "".join(VALTYPES[t] for t in data[body:body + n])
                    body += n
                    self.types.append((params, results))
            elif sid == 2:
                count, body = _uleb(data, body)
                for _ in range(count):
                    mod, body = _name(data, body)
                    field, body = _name(data, body)
                    kind = data[body]
                    body += 1
                    if kind == 0:
                        t, body = _uleb(data, body)
                        func_types.append(t)
                        self.imports[(mod, field)] = self.types[t]
                    elif kind == 2:
                        self.memory_imported = True
                        flags = data[body]
                        _, body = _uleb(data, body + 1)
                        if flags & 1:
                            _, body = _uleb(data, body)
                    else:
                        raise AssertionError(f"unexpected import kind {kind} for {mod}.{field}")
            elif sid == 3:
                count, body = _uleb(data, body)
                for _ in range(count):
                    t, body = _uleb(data, body)
                    func_types.append(t)
            elif sid == 7:
                count, body = _uleb(data, body)
                for _ in range(count):
                    name, body = _name(data, body)
                    kind = data[body]
                    index, body = _uleb(data, body + 1)
                    if kind == 0:
                        self.exports[name] = self.types[func_types[index]]
            pos = end

    @staticmethod
    def wasm3_signature(sig):
        params, results = sig
        return f"{results or 'v'}({params})"


class AbiVersionError(Exception):
    """The module's abi_version() is outside what this harness runs."""


class BoundsError(AssertionError):
    pass


class Core:
    """One wasm3 runtime running the core, with the C host's imports mirrored in Python."""

    def __init__(self, wasm_bytes, stack_bytes=32 * 1024, send_budget=None):
        self.env = wasm3.Environment()
        self.rt = self.env.new_runtime(stack_bytes)
        self.mod = self.env.parse_module(wasm_bytes)
        self.rt.load(self.mod)
        # Bytes one send takes at most (None: all of them); fewer than offered asks for on_writable.
        self.send_budget = send_budget
        self.host_calls = []
        self.actions = []   # ("connect", conn, host, port, server_name) / ("send", conn, bytes) / ("close", conn)
                            # / ("writable", conn)
        self.leds = []
        self.logs = []
        self.aborts = []
        handlers = {
            "connect": self._connect,
            "send": self._send,
            "close": self._close,
            "led": self._led,
            "log": self._log,
            "host_call": self._host_call,
            "abort": self._abort,
        }
        # Every import is tried, then the version asked, before a link failure is reported: a core of
        # another ABI version fails to link for that reason (ABI.md "Versions"), as in wasm_host.c.
        link_error = None
        for module, name, sig in abi.IMPORTS:
            try:
                self.mod.link_function(module, name, sig, handlers[name])
            except RuntimeError as err:
                link_error = link_error or RuntimeError(f"linking {module}.{name}: {err}")
        version = self.rt.find_function("abi_version")()
        if not abi.ABI_VERSION_MIN <= version <= abi.ABI_VERSION_MAX:
            raise AbiVersionError(
                f"the core speaks ABI version {version}; this harness runs version {abi.ABI_VERSION_MIN}"
                f"..{abi.ABI_VERSION_MAX}: rebuild the core from this checkout (npm run build)")
        if link_error is not None:
            raise link_error
        self.fn = {name: self.rt.find_function(name) for name in abi.EXPORTS}
        self.io_offset = self.call("io_buffer")
        self.io_size = self.call("io_buffer_size")

    # -- memory: fetched afresh every time (linear memory may move when it grows)
    def memory(self):
        return self.rt.get_memory(0)

    def _read(self, ptr, length):
        mem = self.memory()
        if length < 0 or ptr < 0 or ptr + length > len(mem):
            raise BoundsError(f"guest range [{ptr}, +{length}) outside {len(mem)} bytes")
        return bytes(mem[ptr:ptr + length])

    def _write_io(self, data):
        assert len(data) <= self.io_size
        mem = self.memory()
        if self.io_offset + len(data) > len(mem):
            raise BoundsError("io_buffer outside linear memory")
        mem[self.io_offset:self.io_offset + len(data)] = data

    # -- imports (same checks as wasm_imports.c)
    def _connect(self, conn, host, host_len, port, name, name_len, profile):
        assert 0 < conn <= abi.CONN_CORE_MAX, f"connection id {conn} outside the core's range"
        assert profile in (abi.PROFILE_CLUSTER, abi.PROFILE_PUBLIC), f"profile {profile}"
        h = self._read(host, host_len).decode()
        n = self._read(name, name_len).decode() if name_len else h
        self.actions.append(("connect", conn, h, port, n))

    def _send(self, conn, ptr, length):
        take = length if self.send_budget is None else min(length, self.send_budget)
        self.actions.append(("send", conn, self._read(ptr, take)))
        if take < length:
            self.actions.append(("writable", conn))
        return take

    def _host_call(self, req, op, arg, ptr, length):
        """This harness has no listener and no key store: every op is refused at once."""
        self.host_calls.append((req, op, arg, self._read(ptr, length)))
        return -abi.ERR_UNSUPPORTED

    def _close(self, conn):
        self.actions.append(("close", conn))

    def _led(self, pattern):
        assert abi.LED_OFF <= pattern <= abi.LED_PANIC, f"unknown LED pattern {pattern}"
        self.leds.append(pattern)

    def _log(self, level, ptr, length):
        self.logs.append((level, self._read(ptr, length).decode()))

    def _abort(self, msg, file, line, column):
        def as_string(p):
            if p == 0:
                return ""
            size = struct.unpack("<I", self._read(p - 4, 4))[0]
            return self._read(p, size).decode("utf-16-le", "replace")
        self.aborts.append((as_string(msg), as_string(file), line, column))
        raise RuntimeError(f"core abort: {self.aborts[-1]}")

    # -- exports
    def call(self, name, *args):
        return self.fn[name](*args)

    def collect(self):
        self.call("__collect")

    def stat(self, sid):
        return self.call("stat", sid)

    def configure(self, doc):
        data = json.dumps(doc).encode() if not isinstance(doc, (bytes, bytearray)) else bytes(doc)
        for i in range(0, len(data), self.io_size):
            chunk = data[i:i + self.io_size]
            self._write_io(chunk)
            rc = self.call("config_write", len(chunk))
            if rc != abi.OK:
                return rc
        return abi.OK

    def deliver_data(self, now, conn, data):
        for i in range(0, len(data), self.io_size):
            chunk = data[i:i + self.io_size]
            self._write_io(chunk)
            self.call("on_data", now, conn, len(chunk))

    def take_actions(self):
        actions, self.actions = self.actions, []
        return actions


class FakeApiServer:
    """A byte-level HTTP/1.1 API server with just the objects the core touches."""

    def __init__(self, clock, wall_base=1_790_000_000.0):
        self.clock = clock
        self.wall_base = wall_base
        self.objects = {}          # path -> dict
        self.requests = []         # (conn, method, path, headers, body)
        self.buffers = {}
        self.rv = itertools.count(1000)
        self.uids = itertools.count(1)
        self.overrides = []        # [(method, path_prefix, status)] consumed in order

    def date(self):
        return email.utils.formatdate(self.wall_base + self.clock.now / 1000.0, usegmt=True)

    def open(self, conn):
        self.buffers[conn] = b""

    def close(self, conn):
        self.buffers.pop(conn, None)

    def feed(self, conn, data):
        """Bytes from the core; returns the response bytes for every complete request."""
        buf = self.buffers.get(conn, b"") + data
        out = b""
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            lines = buf[:head_end].decode("latin-1").split("\r\n")
            method, path, version = lines[0].split(" ")
            assert version == "HTTP/1.1", lines[0]
            headers = {}
            for line in lines[1:]:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0"))
            if len(buf) < head_end + 4 + length:
                break
            body = buf[head_end + 4:head_end + 4 + length]
            buf = buf[head_end + 4 + length:]
            self.requests.append((conn, method, path, headers, body))
            out += self.respond(method, path, headers, body)
        self.buffers[conn] = buf
        return out

    def _reply(self, status, obj=None, reason=None):
        body = json.dumps(obj).encode() if obj is not None else b""
        reasons = {200: "OK", 201: "Created", 404: "Not Found", 409: "Conflict", 401: "Unauthorized",
                   500: "Internal Server Error"}
        head = (f"HTTP/1.1 {status} {reason or reasons.get(status, 'X')}\r\n"
                f"Date: {self.date()}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    def _stamp(self, obj):
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self.rv))
        return obj

    def respond(self, method, path, headers, body):
        for i, (m, prefix, status) in enumerate(self.overrides):
            if m == method and path.startswith(prefix):
                del self.overrides[i]
                return self._reply(status, {"kind": "Status", "code": status})
        if method == "GET" and path == "/version":
            return self._reply(200, {"major": "1", "minor": "36", "gitVersion": "v1.36.3"})
        doc = json.loads(body) if body else None
        if method == "POST":
            name = doc["metadata"]["name"]
            key = f"{path}/{name}"
            if key in self.objects:
                return self._reply(409, {"kind": "Status", "reason": "AlreadyExists", "code": 409})
            doc["metadata"]["uid"] = f"00000000-0000-4000-8000-{next(self.uids):012d}"
            self.objects[key] = self._stamp(doc)
            return self._reply(201, self.objects[key])
        base = path[:-len("/status")] if path.endswith("/status") else path
        if base not in self.objects:
            return self._reply(404, {"kind": "Status", "code": 404})
        if method == "GET":
            return self._reply(200, self.objects[base])
        if method == "PATCH":
            merge(self.objects[base], doc)
            return self._reply(200, self._stamp(self.objects[base]))
        if method == "PUT":
            self.objects[base] = self._stamp(doc)
            return self._reply(200, self.objects[base])
        if method == "DELETE":
            del self.objects[base]
            return self._reply(200, {"kind": "Status", "status": "Success"})
        return self._reply(404)


def merge(target, patch):
    """JSON merge patch (RFC 7386)."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            merge(target[k], v)
        else:
            target[k] = v


class Clock:
    def __init__(self, now=1000):
        self.now = now


class Driver:
    """The host event loop on a virtual clock, as wasm_host.c runs it on the device."""

    def __init__(self, core, server, clock):
        self.core, self.server, self.clock = core, server, clock
        self.events = []           # ("connected", conn) / ("data", conn, bytes) / ("closed", conn, reason)
        self.open = set()
        self.connects = []
        self.calls = 0

    def boot(self, config, heap=(300 * 1024, 320 * 1024), seed=0x1234_5678_9ABC_DEF0):
        c = self.core
        assert c.call("abi_version") == abi.ABI_VERSION
        assert c.configure(config) == abi.OK
        c.call("on_heap", self.clock.now, heap[0], heap[1])
        rc = c.call("start", self.clock.now, seed)
        c.collect()
        self._absorb()
        return rc

    def link(self, kind=abi.LINK_ETHERNET, ipv4=0xC0A8006F, bssid=0, rssi=0):
        self.core.call("on_link", self.clock.now, kind, ipv4, bssid, rssi)
        self.core.collect()
        self._absorb()

    def _absorb(self):
        """Turn the actions of the last call into events (never calling back during the call)."""
        for action in self.core.take_actions():
            if action[0] == "connect":
                _, conn, host, port, name = action
                self.connects.append((conn, host, port, name))
                self.open.add(conn)
                self.server.open(conn)
                self.events.append(("connected", conn))
            elif action[0] == "send":
                _, conn, data = action
                if conn in self.open:
                    reply = self.server.feed(conn, data)
                    if reply:
                        self.events.append(("data", conn, reply))
            elif action[0] == "close":
                self.open.discard(action[1])
                self.server.close(action[1])
            elif action[0] == "writable":
                self.events.append(("writable", action[1]))

    def step(self):
        """Deliver one event, or fire the timer; returns False when nothing is left to do."""
        c = self.core
        if self.events:
            ev = self.events.pop(0)
            if ev[1] not in self.open:
                return True
            if ev[0] == "connected":
                c.call("on_connected", self.clock.now, ev[1])
            elif ev[0] == "data":
                c.deliver_data(self.clock.now, ev[1], ev[2])
            elif ev[0] == "closed":
                self.open.discard(ev[1])
                c.call("on_closed", self.clock.now, ev[1], ev[2])
            elif ev[0] == "writable":
                c.call("on_writable", self.clock.now, ev[1])
        else:
            deadline = c.call("next_deadline")
            if deadline < 0:
                return False
            self.clock.now = max(self.clock.now, deadline)
            c.call("on_heap", self.clock.now, 300 * 1024, 320 * 1024)
            c.call("on_timer", self.clock.now)
        c.collect()
        self.calls += 1
        self._absorb()
        return True

    def run_until(self, predicate, max_steps=20000):
        for _ in range(max_steps):
            if predicate():
                return True
            if not self.step():
                return predicate()
        return predicate()
