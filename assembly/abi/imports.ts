/**
 * Every host function the core imports, in one place (see ../ABI.md). Each returns at once; outcomes come
 * back later as events. Pointers passed here are valid only during the call.
 */

/** Opens TLS connection `conn` to host:port, verifying the certificate for `serverName` under `profile` (abi/codes.ts Profile). */
@external("picokubelet", "connect")
export declare function hostConnect(
  conn: i32,
  host: usize,
  hostLen: i32,
  port: i32,
  serverName: usize,
  serverNameLen: i32,
  profile: i32,
): void;

/** Offers bytes for `conn`; returns how many the host took (0..len; -1 for an unknown conn). */
@external("picokubelet", "send")
export declare function hostSend(conn: i32, ptr: usize, len: i32): i32;

/** Closes `conn`; no further events arrive for it. */
@external("picokubelet", "close")
export declare function hostClose(conn: i32): void;

/** Shows an LED pattern (abi/codes.ts Led). */
@external("picokubelet", "led")
export declare function hostLed(pattern: i32): void;

/** Emits one UTF-8 log line at a level (abi/codes.ts LogLevel). */
@external("picokubelet", "log")
export declare function hostLog(level: i32, ptr: usize, len: i32): void;

/** Starts host operation `op` (abi/codes.ts HostOp) as request `req`: 0 = on_host_result follows; negative = refused now. */
@external("picokubelet", "host_call")
export declare function hostCall(req: i32, op: i32, arg: i32, ptr: usize, len: i32): i32;
