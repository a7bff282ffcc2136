/**
 * The OCI image manifest of a brain artifact (docs/brain.md "Publish"): the fields the node acts on,
 * read with the streaming scanner, and the checks made before any layer byte is fetched. The bytes
 * themselves go to the host with the commit, which checks their sha256 against the digest asked for.
 */
import { ByteBuffer, decimal, visibleAscii } from "../util/bytes";
import { JsonScanner, ScanHandler, ValueKind, numberOf } from "../json/scanner";
import { isSha256 } from "./reference";

export const MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const CONFIG_TYPE = "application/vnd.wasm.config.v0+json";
export const LAYER_TYPE = "application/wasm";
/** Largest manifest read (a brain's is about 1 KiB). */
export const MANIFEST_MAX_BYTES: i32 = 16 * 1024;
/** Largest brain the core will fetch; the host's slot may be smaller (its OP_BRAIN_WRITE refuses). */
export const BRAIN_MAX_BYTES: i64 = 4 * 1024 * 1024;
/** The ABI version this core and its successors speak (ABI.md). */
export const BRAIN_ABI: i64 = 2;

const ANN_VERSION = "dev.picokubelet.brain.version";
const ANN_ABI = "dev.picokubelet.brain.abi";
const ANN_SIGNATURE = "dev.picokubelet.brain.signature";
const ANN_KEY_ID = "dev.picokubelet.brain.key-id";

const FIELDS: string[] = ["mediaType", "config.mediaType", "layers[]", "layers[].mediaType", "layers[].digest", "layers[].size", "annotations.*"];

export class Manifest extends ScanHandler {
  mediaType: string = "";
  configType: string = "";
  layers: i32 = 0;
  layerType: string = "";
  layerDigest: string = "";
  layerSize: i64 = -1;
  version: string = "";
  abi: i64 = -1;
  signature: string = "";
  keyId: string = "";
  /** Why it is not a brain this node can take ("" when it is). */
  error: string = "";

  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    if (field == 2 && kind == ValueKind.Object) this.layers++;
  }

  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    const str = kind == ValueKind.String;
    if (field == 0 && str) this.mediaType = v.toString();
    else if (field == 1 && str) this.configType = v.toString();
    else if (this.layers == 1 && field == 3 && str) this.layerType = v.toString();
    else if (this.layers == 1 && field == 4 && str) this.layerDigest = v.toString();
    else if (this.layers == 1 && field == 5 && kind == ValueKind.Number) this.layerSize = numberOf(v);
    else if (field == 6 && str) {
      const k = key.toString();
      if (k == ANN_VERSION) this.version = v.toString();
      else if (k == ANN_ABI) this.abi = decimal(v.toString(), 6);
      else if (k == ANN_SIGNATURE) this.signature = v.toString();
      else if (k == ANN_KEY_ID) this.keyId = v.toString();
    }
  }
}

/** Reads and judges a manifest; `error` names the first thing wrong with it. */
export function readManifest(body: ByteBuffer): Manifest {
  const m = new Manifest();
  const s = new JsonScanner(FIELDS, m);
  if (!s.feed(body.ptr, body.length) || !s.finish()) {
    m.error = "the manifest is not JSON (" + s.error + ")";
    return m;
  }
  if (m.mediaType.length > 0 && m.mediaType != MANIFEST_TYPE) m.error = "not an OCI image manifest (" + clip(m.mediaType) + ")";
  else if (m.configType != CONFIG_TYPE) m.error = "not a wasm artifact (config " + clip(m.configType) + ", want " + CONFIG_TYPE + ")";
  else if (m.layers != 1) m.error = "a brain has exactly one layer (this manifest has " + m.layers.toString() + ")";
  else if (m.layerType != LAYER_TYPE) m.error = "the layer is not " + LAYER_TYPE + " (" + clip(m.layerType) + ")";
  else if (!isSha256(m.layerDigest)) m.error = "the layer digest is not sha256";
  else if (m.layerSize <= 0 || m.layerSize > BRAIN_MAX_BYTES) m.error = "the layer size " + m.layerSize.toString() + " is not 1.." + BRAIN_MAX_BYTES.toString() + " bytes";
  else if (m.abi != BRAIN_ABI) m.error = "it speaks ABI " + (m.abi < 0 ? "(none said)" : m.abi.toString()) + "; this node speaks ABI " + BRAIN_ABI.toString();
  else if (m.version.length == 0 || m.version.length > 64) m.error = "no " + ANN_VERSION + " annotation";
  return m;
}

/** A token response of a registry's auth server: `token` or `access_token`. */
class TokenReply extends ScanHandler {
  token: string = "";
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (kind == ValueKind.String && this.token.length == 0) this.token = v.toString();
  }
}

const TOKEN_FIELDS: string[] = ["token", "access_token"];
/** Longest bearer token kept (registry tokens are JWTs of one or two KiB). */
export const TOKEN_MAX: i32 = 6 * 1024;

/** The token of a token-server reply, or "" (not JSON, none, or cut). */
export function readToken(body: ByteBuffer): string {
  const t = new TokenReply();
  const s = new JsonScanner(TOKEN_FIELDS, t, TOKEN_MAX);
  if (!s.feed(body.ptr, body.length) || !s.finish()) return "";
  // It goes into a header line.
  return t.token.length < TOKEN_MAX && visibleAscii(t.token) ? t.token : "";
}


function clip(s: string): string {
  if (s.length == 0) return "none";
  return s.length <= 80 ? s : s.substring(0, 80) + "...";
}
