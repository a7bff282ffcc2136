/**
 * Error codes (shared with hosts through STAT_LAST_ERROR) and their words.
 *
 * Local errors are our misuse, Remote errors come from the server's or the network's bytes, Transport
 * errors from sockets and TLS. Remote and Transport errors end one attempt and schedule a retry; they
 * never trap the core.
 */

/** Error codes (ABI.md, "Error codes"). */
export enum ErrorCode {
  Ok = 0,
  ConfigTooLarge = 1,
  ConfigInvalid = 2,
  AlreadyStarted = 3,
  SnapshotTooLarge = 4,
  SnapshotInvalid = 5,
  NotRunning = 6,
  HttpMalformed = 10,
  HttpHeadTooLarge = 11,
  HttpStatus = 12,
  Json = 13,
  BodyTooLarge = 14,
  Auth = 15,
  Timeout = 20,
  Closed = 21,
  Connect = 22,
  LinkDown = 23,
  Unsupported = 30,
  HostCallInvalid = 31,
  HostCallFailed = 32,
  HostBusy = 33,
}

/** A short description of an error code, for log lines. */
export function errorText(code: ErrorCode): string {
  switch (code) {
    case ErrorCode.Ok: return "ok";
    case ErrorCode.ConfigTooLarge: return "configuration document too large";
    case ErrorCode.ConfigInvalid: return "configuration invalid";
    case ErrorCode.AlreadyStarted: return "already started";
    case ErrorCode.HttpMalformed: return "malformed HTTP response";
    case ErrorCode.HttpHeadTooLarge: return "HTTP response head too large";
    case ErrorCode.HttpStatus: return "unexpected HTTP status";
    case ErrorCode.Json: return "response body is not the expected JSON";
    case ErrorCode.BodyTooLarge: return "response body larger than its budget";
    case ErrorCode.Auth: return "credentials refused";
    case ErrorCode.Timeout: return "request deadline passed";
    case ErrorCode.Closed: return "connection closed before the response was complete";
    case ErrorCode.Connect: return "connect or TLS handshake failed";
    case ErrorCode.LinkDown: return "link down";
    case ErrorCode.Unsupported: return "unsupported by the host";
    default: return "error";
  }
}
