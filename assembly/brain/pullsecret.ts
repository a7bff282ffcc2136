/**
 * Registry credentials from a pod's imagePullSecrets, as the kubelet's keyring reads them: a Secret of
 * type `kubernetes.io/dockerconfigjson` (`data[".dockerconfigjson"]`, base64 of `{"auths":{"<registry>":
 * {"auth":"<base64 user:password>"}}}`, or `username`/`password` instead of `auth`) or the older
 * `kubernetes.io/dockercfg` (`data[".dockercfg"]`, the same map without `auths`). The node reads the
 * Secret with its own credentials: the Node authorizer lets it read secrets of pods bound to it.
 */
import { ByteBuffer, visibleAscii } from "../util/bytes";
import { base64Decode, base64Encode } from "../util/base64";
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";

/** Largest docker config decoded (one with a few registries is well under 4 KiB). */
const CONFIG_MAX: i32 = 8 * 1024;

const SECRET_FIELDS: string[] = ["data.`.dockerconfigjson`", "data.`.dockercfg`"];

class SecretData extends ScanHandler {
  encoded: ByteBuffer = new ByteBuffer(256, (CONFIG_MAX / 3) * 4 + 4);
  legacy: bool = false;
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (kind != ValueKind.String || this.encoded.length > 0) return;
    this.encoded.append(v);
    if (v.overflow) this.encoded.overflow = true;
    this.legacy = field == 1;
  }
}

class Entry extends ScanHandler {
  auth: string = "";
  username: string = "";
  password: string = "";
  /** Each scanner asks for one key's three fields: 0 auth, 1 username, 2 password. */
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (kind != ValueKind.String || v.overflow) return;
    if (field == 0 && this.auth.length == 0) this.auth = v.toString();
    else if (field == 1 && this.username.length == 0) this.username = v.toString();
    else if (field == 2 && this.password.length == 0) this.password = v.toString();
  }
}

/**
 * The `Basic` credentials (base64 of `user:password`) a Secret body holds for one of `keys` (the first
 * key found wins), "" when it holds none; `problem` gets words for a Secret that is not a docker config.
 */
export function credentialsFrom(body: ByteBuffer, keys: string[], problem: string[]): string {
  const data = new SecretData();
  const s = new JsonScanner(SECRET_FIELDS, data, (CONFIG_MAX / 3) * 4 + 4);
  if (!s.feed(body.ptr, body.length) || !s.finish()) {
    problem.push("the Secret is not JSON");
    return "";
  }
  if (data.encoded.length == 0) {
    problem.push("the Secret has no .dockerconfigjson (type kubernetes.io/dockerconfigjson)");
    return "";
  }
  const config = new ByteBuffer(512, CONFIG_MAX);
  if (data.encoded.overflow || !base64Decode(data.encoded, config)) {
    problem.push("its .dockerconfigjson is not base64 of at most " + CONFIG_MAX.toString() + " bytes");
    return "";
  }
  const paths: string[] = [];
  const prefix = data.legacy ? "" : "auths.";
  for (let i = 0; i < keys.length; i++) {
    const k = prefix + "`" + keys[i] + "`.";
    paths.push(k + "auth");
    paths.push(k + "username");
    paths.push(k + "password");
  }
  for (let i = 0; i < keys.length; i++) {
    const e = new Entry();
    const one: string[] = [paths[i * 3], paths[i * 3 + 1], paths[i * 3 + 2]];
    const c = new JsonScanner(one, e, 2048);
    if (!c.feed(config.ptr, config.length) || !c.finish()) {
      problem.push("its docker config is not JSON");
      return "";
    }
    if (e.auth.length > 0) return visibleAscii(e.auth) ? e.auth : "";
    if (e.username.length > 0) {
      const pair = new ByteBuffer(64, 4096);
      pair.str(e.username + ":" + e.password);
      const out = new ByteBuffer(96, 6000);
      base64Encode(out, pair.ptr, pair.length);
      return out.overflow ? "" : out.toString();
    }
  }
  return "";
}

