/**
 * What one exchange came to, decided once, here, for every caller: the reconcilers act on an Outcome and
 * never look at status codes for 401/403 again.
 */

/** The outcome of one request. */
export enum Outcome {
  /** 2xx. */
  Ok = 0,
  /** 401 or 403: the server refused our credentials or our rights. Retry slowly. */
  AuthRefused = 1,
  /** 404. */
  NotFound = 2,
  /** 409. */
  Conflict = 3,
  /** 410: a watch's or list's resourceVersion is too old. */
  Gone = 4,
  /** 429: the server pushes back (API Priority and Fairness). */
  Throttled = 5,
  /** Any other 1xx/3xx/4xx: the request itself was refused. */
  Rejected = 6,
  /** 5xx. */
  ServerError = 7,
  /** No complete response: connect, TLS, reset, deadline, malformed bytes. */
  Transport = 8,
}

/** The outcome of a response with `status`, or Transport when no complete response arrived. */
export function classify(complete: bool, status: i32): Outcome {
  if (!complete) return Outcome.Transport;
  if (status >= 200 && status < 300) return Outcome.Ok;
  if (status == 401 || status == 403) return Outcome.AuthRefused;
  if (status == 404) return Outcome.NotFound;
  if (status == 409) return Outcome.Conflict;
  if (status == 410) return Outcome.Gone;
  if (status == 429) return Outcome.Throttled;
  if (status >= 500) return Outcome.ServerError;
  return Outcome.Rejected;
}
