"""The Python mirror of the picokubelet core ABI, version 2 (assembly/ABI.md).

Used by the wasm3 compatibility tests (pywasm3). The numbers and the import table here must agree
with assembly/ABI.md and with the C host's mirror (firmware/components/wasm_host/include/kubelet_abi.h);
test_core_wasm3.py checks both.
"""

ABI_VERSION = 2
# The versions this harness runs (ABI.md "Versions"); a module outside is refused before linking.
ABI_VERSION_MIN = 2
ABI_VERSION_MAX = 2
IMPORT_MODULE = "picokubelet"
IO_BUFFER_SIZE = 4096
CONFIG_MAX_BYTES = 16 * 1024
SNAPSHOT_MAX_BYTES = 16 * 1024

# connection id ranges
CONN_CORE_MAX = 0x3FFFFFFF
CONN_ACCEPTED_MIN = 0x40000000

# connect profiles
PROFILE_CLUSTER = 0
PROFILE_PUBLIC = 1

# host_call operations and key slots
OP_LISTEN = 1
OP_KEY_GENERATE = 2
OP_CSR_CREATE = 3
OP_CERT_INSTALL = 4
OP_CERT_INFO = 5
OP_BRAIN_WRITE = 6
OP_BRAIN_COMMIT = 7
OP_BRAIN_STATUS = 8
KEY_SLOT_CLIENT = 0
KEY_SLOT_SERVING = 1

# on_link kinds
LINK_DOWN = 0
LINK_ETHERNET = 1
LINK_WIFI = 2

# on_closed reasons
CLOSE_EOF = 0
CLOSE_CONNECT_FAILED = 1
CLOSE_TLS_FAILED = 2
CLOSE_IO_ERROR = 3
CLOSE_LINK_DOWN = 4

# LED patterns
LED_OFF = 0
LED_SELF_TEST = 1
LED_BOOTING = 2
LED_CONNECTING = 3
LED_HEALTHY = 4
LED_ACTIVITY = 5
LED_WARNING = 6
LED_DISCONNECTED = 7
LED_PANIC = 8

# log levels
LOG_ERROR = 0
LOG_WARN = 1
LOG_INFO = 2
LOG_DEBUG = 3

# shutdown modes
SHUTDOWN_STOP = 0
SHUTDOWN_CLEANUP = 1

# stat ids
STAT_PHASE = 0
STAT_LED = 1
STAT_RENEWALS = 2
STAT_RENEW_FAILURES = 3
STAT_STATUS_PUSHES = 4
STAT_REQUESTS = 5
STAT_CONNECTS = 6
STAT_WALL_MS = 7
STAT_LAST_HTTP_STATUS = 8
STAT_CONSECUTIVE_FAILURES = 9
STAT_MEMORY_PRESSURE = 10
STAT_REGISTRATIONS = 11
STAT_LAST_ERROR = 12
STAT_RECONNECTS = 13
STAT_MEMORY_BYTES = 14
STAT_ACCEPTED = 15
STAT_SERVER_REQUESTS = 16
STAT_SERVER_REFUSED = 17
STAT_HOST_CALLS = 18
STAT_LISTEN_PORT = 19
STAT_RESUMED = 20
STAT_SENDS_DEFERRED = 21

# phases
PHASE_CONFIGURING = 0
PHASE_ANCHORING = 1
PHASE_REGISTERING = 2
PHASE_LEASING = 3
PHASE_RUNNING = 4
PHASE_STOPPING = 5
PHASE_STOPPED = 6
PHASE_FAILED = 7
PHASE_HANDED_OFF = 8
PHASE_BOOTSTRAPPING = 9

# error codes
OK = 0
ERR_CONFIG_TOO_LARGE = 1
ERR_CONFIG_INVALID = 2
ERR_ALREADY_STARTED = 3
ERR_SNAPSHOT_TOO_LARGE = 4
ERR_SNAPSHOT_INVALID = 5
ERR_NOT_RUNNING = 6
ERR_HTTP_MALFORMED = 10
ERR_HTTP_HEAD_TOO_LARGE = 11
ERR_HTTP_STATUS = 12
ERR_JSON = 13
ERR_BODY_TOO_LARGE = 14
ERR_AUTH = 15
ERR_TIMEOUT = 20
ERR_CLOSED = 21
ERR_CONNECT = 22
ERR_LINK_DOWN = 23
ERR_UNSUPPORTED = 30
ERR_HOST_CALL_INVALID = 31
ERR_HOST_CALL_FAILED = 32
ERR_HOST_BUSY = 33

# Every import, with its wasm3 signature string: exactly what the C host links (wasm_imports.c).
IMPORTS = (
    (IMPORT_MODULE, "connect", "v(iiiiiii)"),
    (IMPORT_MODULE, "send", "i(iii)"),
    (IMPORT_MODULE, "close", "v(i)"),
    (IMPORT_MODULE, "led", "v(i)"),
    (IMPORT_MODULE, "log", "v(iii)"),
    (IMPORT_MODULE, "host_call", "i(iiiii)"),
    ("env", "abort", "v(iiii)"),
)

# Every export a host calls, with its wasm signature (params, results) in wasm3 letters.
EXPORTS = {
    "abi_version": ("", "i"),
    "io_buffer": ("", "i"),
    "io_buffer_size": ("", "i"),
    "config_write": ("i", "i"),
    "start": ("II", "i"),
    "on_link": ("IiiIi", ""),
    "on_heap": ("Iii", ""),
    "on_connected": ("Ii", ""),
    "on_data": ("Iii", ""),
    "on_closed": ("Iii", ""),
    "on_writable": ("Ii", ""),
    "on_accepted": ("Iiiii", ""),
    "on_host_result": ("Iiii", ""),
    "snapshot_write": ("i", "i"),
    "snapshot_take": ("I", "i"),
    "snapshot_read": ("i", "i"),
    "on_timer": ("I", ""),
    "next_deadline": ("", "I"),
    "shutdown": ("Ii", ""),
    "stat": ("i", "I"),
    "__collect": ("", ""),
}


def names(prefix):
    """{value: NAME} for the constants starting with prefix (for readable assertion messages)."""
    return {v: k for k, v in globals().items() if k.startswith(prefix) and isinstance(v, int)}
