/**
 * What a registry's 401 asks for (RFC 9110 §11.6.1, the distribution token spec): `WWW-Authenticate:
 * Bearer realm="https://…",service="…",scope="…"` (get a token from the realm, then ask again with it) or
 * `Basic realm="…"` (send the credentials themselves). And the https URLs a pull follows (token realms,
 * blob redirects), split into where to connect and what to ask for.
 */
import { ByteBuffer, decimal, lowerAscii } from "../util/bytes";

export class Challenge {
  /** "bearer", "basic", or "" when the header was neither. */
  scheme: string = "";
  realm: string = "";
  service: string = "";
  scope: string = "";
}

/**
 * True when `s` is the lower-case ASCII `lower`, ignoring ASCII case (schemes and parameter names are
 * case-insensitive). Unicode lowering would accept nothing more here: the one non-ASCII character that
 * lowers into ASCII is the Kelvin sign (to "k"), and no name below has a "k"; this spares the module
 * String#toLowerCase and its Unicode tables.
 */
function isNamed(s: string, lower: string): bool {
  const n = s.length;
  if (n != lower.length) return false;
  for (let i = 0; i < n; i++) if (lowerAscii(s.charCodeAt(i)) != lower.charCodeAt(i)) return false;
  return true;
}

/** Parses a WWW-Authenticate value (one challenge; parameters may be quoted). */
export function parseChallenge(v: string): Challenge {
  const c = new Challenge();
  let i = 0;
  const n = v.length;
  while (i < n && v.charCodeAt(i) == 0x20) i++;
  let s = i;
  while (i < n && v.charCodeAt(i) != 0x20) i++;
  const scheme = v.substring(s, i);
  if (isNamed(scheme, "bearer")) c.scheme = "bearer";
  else if (isNamed(scheme, "basic")) c.scheme = "basic";
  else return c;
  while (i < n) {
    while (i < n && (v.charCodeAt(i) == 0x20 || v.charCodeAt(i) == 0x2c)) i++;
    s = i;
    while (i < n && v.charCodeAt(i) != 0x3d && v.charCodeAt(i) != 0x2c) i++;
    const name = v.substring(s, i).trim();
    if (i >= n || v.charCodeAt(i) != 0x3d) continue;
    i++;
    let value = "";
    if (i < n && v.charCodeAt(i) == 0x22) {
      i++;
      s = i;
      while (i < n && v.charCodeAt(i) != 0x22) i++;
      value = v.substring(s, i);
      i++;
    } else {
      s = i;
      while (i < n && v.charCodeAt(i) != 0x2c) i++;
      value = v.substring(s, i).trim();
    }
    if (isNamed(name, "realm")) c.realm = value;
    else if (isNamed(name, "service")) c.service = value;
    else if (isNamed(name, "scope")) c.scope = value;
  }
  return c;
}

/** An https URL: where to connect and the request target. */
export class Url {
  host: string = "";
  port: i32 = 443;
  /** Path and query, "/" at least. */
  target: string = "/";
  error: string = "";
}

/** Parses `https://host[:port][/path][?query]`; anything else (http too: a pull is never in the clear) is an error. */
export function parseHttpsUrl(s: string): Url {
  const u = new Url();
  if (!s.startsWith("https://")) {
    u.error = "not an https URL";
    return u;
  }
  const rest = s.substring(8);
  let end = rest.length;
  const slash = rest.indexOf("/");
  const query = rest.indexOf("?");
  if (slash >= 0) end = slash;
  if (query >= 0 && query < end) end = query;
  const authority = rest.substring(0, end);
  u.target = end < rest.length ? rest.substring(end) : "/";
  if (u.target.startsWith("?")) u.target = "/" + u.target;
  if (authority.length == 0 || authority.includes("@") || authority.startsWith("[")) {
    u.error = "an unsupported host in the URL";
    return u;
  }
  const colon = authority.indexOf(":");
  if (colon < 0) {
    u.host = authority;
    return u;
  }
  u.host = authority.substring(0, colon);
  const n = decimal(authority.substring(colon + 1), 5);
  if (n < 1 || n > 65535) u.error = "a bad port in the URL";
  u.port = n < 0 ? 0 : <i32>n;
  return u;
}

/** Percent-encodes a query parameter value (RFC 3986 unreserved characters stay). */
export function queryEscape(s: string): string {
  const b = String.UTF8.encode(s);
  const p = changetype<usize>(b);
  // One buffer, not a string per character: a long value from a hostile header costs its size once.
  const out = new ByteBuffer(b.byteLength + 16, b.byteLength * 3 + 16);
  for (let i = 0; i < b.byteLength; i++) {
    const c = <i32>load<u8>(p + <usize>i);
    const keep = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e;
    if (keep) out.byte(c);
    else {
      out.byte(0x25);
      out.byte(upperHex(c >> 4));
      out.byte(upperHex(c & 15));
    }
  }
  return out.toString();
}

function upperHex(n: i32): i32 {
  return n < 10 ? 0x30 + n : 0x37 + n;
}
