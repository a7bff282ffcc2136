/**
 * The kubelet port's routes (pkg/kubelet/server/server.go) and the authorization attributes of a request
 * (pkg/kubelet/server/auth.go): which `nodes/<subresource>` a path is checked against, with which verb.
 *
 * A target is split into its path and query; query values are percent-decoded when asked for. Names in
 * the path are taken as they are: pod, namespace and container names are DNS labels or subdomains, so a
 * name that needs decoding is not one of ours and is simply not found.
 */
import { ByteBuffer, hexValue } from "../util/bytes";
import { Method } from "../http/incoming";

/** What a path asks for. */
export enum Route {
  NotFound = 0,
  Healthz = 1,
  Pods = 2,
  Metrics = 3,
  MetricsResource = 4,
  ContainerLogs = 5,
  /** exec, attach, portForward, run: they need a process, and this node runs none. */
  Streaming = 6,
}

/** A parsed request target. */
export class Target {
  route: Route = Route.NotFound;
  path: string = "";
  query: string = "";
  /** For containerLogs: the namespace, pod and container in the path. */
  namespace: string = "";
  pod: string = "";
  container: string = "";
  /** For Streaming: which one ("exec", "attach", "portForward", "run"). */
  what: string = "";
}

/** Splits `target` (origin form) and finds its route. */
export function parseTarget(target: string): Target {
  const t = new Target();
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.substring(0, q);
  t.path = path;
  t.query = q < 0 ? "" : target.substring(q + 1);
  if (path == "/healthz") t.route = Route.Healthz;
  else if (path == "/pods" || path == "/pods/") t.route = Route.Pods;
  else if (path == "/metrics") t.route = Route.Metrics;
  else if (path == "/metrics/resource") t.route = Route.MetricsResource;
  else if (path.startsWith("/containerLogs/")) {
    const parts = path.substring(15).split("/");
    if (parts.length == 3 && parts[0].length > 0 && parts[1].length > 0 && parts[2].length > 0) {
      t.route = Route.ContainerLogs;
      t.namespace = parts[0];
      t.pod = parts[1];
      t.container = parts[2];
    }
  } else {
    const what = ["exec", "attach", "portForward", "run"];
    for (let i = 0; i < what.length; i++) {
      if (isSubpath(path, "/" + what[i])) {
        t.route = Route.Streaming;
        t.what = what[i];
      }
    }
  }
  return t;
}

/** `path` is `root` or below it (the kubelet's isSubpath). */
export function isSubpath(path: string, root: string): bool {
  return path == root || (path.startsWith(root) && path.charCodeAt(root.length) == 0x2f);
}

/**
 * The subresource of `nodes` a path is authorized as. The fine-grained ones (healthz, pods, configz) are
 * checked first and fall back to `proxy` (see `fallback`), as kubelets with KubeletFineGrainedAuthz do.
 */
export function subresourceOf(path: string): string {
  if (isSubpath(path, "/stats")) return "stats";
  if (isSubpath(path, "/metrics")) return "metrics";
  if (isSubpath(path, "/logs")) return "log";
  if (isSubpath(path, "/checkpoint")) return "checkpoint";
  if (path == "/healthz" || isSubpath(path, "/healthz")) return "healthz";
  if (isSubpath(path, "/pods") || isSubpath(path, "/runningpods")) return "pods";
  if (isSubpath(path, "/configz")) return "configz";
  return "proxy";
}

/** The subresource to try when `sub` was denied ("" when there is none). */
export function fallback(sub: string): string {
  return sub == "healthz" || sub == "pods" || sub == "configz" ? "proxy" : "";
}

/** The authorization verb of a method (the kubelet's, from the HTTP method). */
export function verbOf(m: Method): string {
  if (m == Method.Get || m == Method.Head) return "get";
  if (m == Method.Post) return "create";
  if (m == Method.Put) return "update";
  if (m == Method.Patch) return "patch";
  if (m == Method.Delete) return "delete";
  return "";
}

/**
 * The value of query parameter `name`, percent-decoded ('+' is a space, as in a form), or null when it is
 * absent. A malformed escape makes the value null too: the caller answers 400 for options it needs.
 */
export function queryValue(query: string, name: string): string | null {
  let from = 0;
  while (from <= query.length) {
    let end = query.indexOf("&", from);
    if (end < 0) end = query.length;
    const eq = query.indexOf("=", from);
    const keyEnd = eq >= 0 && eq < end ? eq : end;
    if (keyEnd - from == name.length && query.substring(from, keyEnd) == name) {
      return keyEnd == end ? "" : decode(query.substring(keyEnd + 1, end));
    }
    from = end + 1;
  }
  return null;
}

function decode(s: string): string | null {
  if (s.indexOf("%") < 0 && s.indexOf("+") < 0) return s;
  const b = new ByteBuffer(s.length, s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x2b) {
      b.byte(0x20);
    } else if (c == 0x25) {
      if (i + 2 >= s.length) return null;
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return null;
      b.byte((hi << 4) | lo);
      i += 2;
    } else {
      b.byte(c);
    }
  }
  return b.toString();
}
