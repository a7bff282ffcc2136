/**
 * An image reference as a brain pod names it (the distribution reference grammar, the parts a pull
 * needs): `[registry/]repository[:tag][@sha256:<64 hex>]`. The first component is a registry when it
 * holds a dot or a colon or is `localhost`, as docker and containerd decide; otherwise the image is on
 * Docker Hub (`registry-1.docker.io`, one-component names under `library/`).
 */
import { decimal } from "../util/bytes";

/** Docker Hub's API host, and the key its credentials have in a docker config. */
export const DOCKER_HUB_HOST = "registry-1.docker.io";
const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";

export class ImageRef {
  /** The registry as written ("docker.io" when none was): the key of its pull-secret entry. */
  registry: string = "";
  /** Where to connect. */
  host: string = "";
  port: i32 = 443;
  repository: string = "";
  /** The tag ("latest" when neither a tag nor a digest was given), or "". */
  tag: string = "";
  /** `sha256:<hex>`, or "". */
  digest: string = "";
  /** Why the reference cannot be pulled ("" when it can). */
  error: string = "";

  /** The manifest to ask for: the digest when there is one, else the tag. */
  get manifestRef(): string {
    return this.digest.length > 0 ? this.digest : this.tag;
  }

  /** Keys a docker config may file this registry's credentials under, best first. */
  authKeys(): string[] {
    if (this.host == DOCKER_HUB_HOST) return [DOCKER_HUB_AUTH_KEY, "docker.io", DOCKER_HUB_HOST];
    return [this.registry, "https://" + this.registry];
  }

  /** `repository@digest` as the registry names it, the brain container's imageID. */
  imageId(digest: string): string {
    const base = this.host == DOCKER_HUB_HOST ? "docker.io/" + this.repository : this.registry + "/" + this.repository;
    return base + "@" + digest;
  }
}

/** Parses `image`; the result's `error` says what is wrong. */
export function parseReference(image: string): ImageRef {
  const r = new ImageRef();
  let rest = image;
  const at = rest.indexOf("@");
  if (at >= 0) {
    r.digest = rest.substring(at + 1);
    rest = rest.substring(0, at);
    if (!isSha256(r.digest)) return bad(r, "the digest is not sha256:<64 lowercase hex digits>");
  }
  const slash = rest.indexOf("/");
  const first = slash > 0 ? rest.substring(0, slash) : "";
  if (first.length > 0 && (first.includes(".") || first.includes(":") || first == "localhost")) {
    r.registry = first;
    rest = rest.substring(slash + 1);
  } else {
    r.registry = "docker.io";
    if (!rest.includes("/")) rest = "library/" + rest;
  }
  // A tag is after the last colon of the last path component.
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    r.tag = rest.substring(colon + 1);
    rest = rest.substring(0, colon);
    if (!validTag(r.tag)) return bad(r, "the tag is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  } else if (r.digest.length == 0) {
    r.tag = "latest";
  }
  r.repository = rest;
  if (!validRepository(rest)) return bad(r, "the repository name is not lowercase path components");
  if (r.registry == "docker.io") {
    r.host = DOCKER_HUB_HOST;
    return r;
  }
  if (r.registry.startsWith("[")) return bad(r, "IPv6 registry addresses are not supported");
  const pc = r.registry.indexOf(":");
  if (pc < 0) {
    r.host = r.registry;
    return r;
  }
  r.host = r.registry.substring(0, pc);
  const port = r.registry.substring(pc + 1);
  const n = decimal(port, 5);
  if (n < 0 && port.length > 0) return bad(r, "the registry port is not a number");
  if (n < 1 || n > 65535) return bad(r, "the registry port is not 1-65535");
  r.port = <i32>n;
  return r;
}

function bad(r: ImageRef, why: string): ImageRef {
  r.error = why;
  return r;
}

/** `sha256:` and 64 lowercase hex digits. */
export function isSha256(d: string): bool {
  if (d.length != 71 || !d.startsWith("sha256:")) return false;
  for (let i = 7; i < 71; i++) {
    const c = d.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function validTag(t: string): bool {
  if (t.length == 0 || t.length > 128) return false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    const word = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f;
    if (!word && (i == 0 || (c != 0x2e && c != 0x2d))) return false;
  }
  return true;
}

/** Components of [a-z0-9] joined by `.`, `_`, `__` or `-`, separated by `/` (checked loosely: the registry has the last word). */
function validRepository(s: string): bool {
  if (s.length == 0 || s.length > 255) return false;
  let prevSep = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a);
    if (alnum) {
      prevSep = false;
      continue;
    }
    if (c != 0x2f && c != 0x2e && c != 0x5f && c != 0x2d) return false;
    if (c == 0x2f && prevSep) return false;
    prevSep = c == 0x2f;
  }
  return !prevSep;
}
