/** The brain puller's parsers: image references, registry challenges and URLs, the brain manifest, token replies, pull secrets. */
import { DOCKER_HUB_HOST, isSha256, parseReference } from "../../assembly/brain/reference";
import { parseChallenge, parseHttpsUrl, queryEscape } from "../../assembly/brain/challenge";
import { BRAIN_MAX_BYTES, readManifest, readToken } from "../../assembly/brain/manifest";
import { credentialsFrom } from "../../assembly/brain/pullsecret";
import { base64Encode } from "../../assembly/util/base64";
import { ByteBuffer, utf8 } from "../../assembly/util/bytes";

/** Fails with both strings when `actual` does not hold `want`. */
function contains(actual: string, want: string): void {
  expect(actual.includes(want)).toBe(true, "\"" + actual + "\" should contain \"" + want + "\"");
}

const D1 = "sha256:" + "a".repeat(64);
const D2 = "sha256:" + "0123456789abcdef".repeat(4);

function b64(s: string): string {
  const src = utf8(s);
  const out = new ByteBuffer(64, 16 * 1024);
  base64Encode(out, src.ptr, src.length);
  return out.toString();
}

function manifest(layers: string, annotations: string, config: string = "application/vnd.wasm.config.v0+json"): ByteBuffer {
  return utf8('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"' + config +
    '","digest":"' + D2 + '","size":80},"layers":[' + layers + '],"annotations":{' + annotations + "}}");
}

function layer(size: string, type: string = "application/wasm", digest: string = D1): string {
  return '{"mediaType":"' + type + '","digest":"' + digest + '","size":' + size + ',"annotations":{"org.opencontainers.image.title":"picokubelet.wasm"}}';
}

const GOOD_ANN = '"dev.picokubelet.brain.version":"0.2.0","dev.picokubelet.brain.abi":"2","org.opencontainers.image.revision":"abc",' +
  '"dev.picokubelet.brain.signature":"c2ln","dev.picokubelet.brain.key-id":"0011223344556677"';

describe("image references", () => {
  it("splits a local registry with a port, a repository and a tag", () => {
    const r = parseReference("127.0.0.1:5000/picokubelet/brain:v2");
    expect(r.error).toBe("");
    expect(r.registry).toBe("127.0.0.1:5000");
    expect(r.host).toBe("127.0.0.1");
    expect(r.port).toBe(5000);
    expect(r.repository).toBe("picokubelet/brain");
    expect(r.tag).toBe("v2");
    expect(r.manifestRef).toBe("v2");
    expect(r.imageId(D1)).toBe("127.0.0.1:5000/picokubelet/brain@" + D1);
  });
  it("takes a digest over a tag, and the tag alone defaults to latest", () => {
    const r = parseReference("ghcr.io/o/brain:v2@" + D1);
    expect(r.error).toBe("");
    expect(r.port).toBe(443);
    expect(r.tag).toBe("v2");
    expect(r.manifestRef).toBe(D1);
    expect(parseReference("ghcr.io/o/brain").tag).toBe("latest");
    expect(parseReference("ghcr.io/o/brain@" + D1).tag).toBe("");
  });
  it("sends names without a registry to Docker Hub, one-component ones under library/", () => {
    const r = parseReference("busybox");
    expect(r.host).toBe(DOCKER_HUB_HOST);
    expect(r.repository).toBe("library/busybox");
    expect(r.authKeys()[0]).toBe("https://index.docker.io/v1/");
    expect(r.imageId(D1)).toBe("docker.io/library/busybox@" + D1);
    expect(parseReference("someone/brain:1").repository).toBe("someone/brain");
    expect(parseReference("localhost/brain").host).toBe("localhost");
  });
  it("refuses what cannot be pulled, saying why", () => {
    contains(parseReference("r.io/brain@sha256:abc").error, "sha256");
    contains(parseReference("r.io/brain@" + D1.toUpperCase()).error, "sha256");
    contains(parseReference("r.io/Brain").error, "lowercase");
    contains(parseReference("r.io//brain").error, "lowercase");
    contains(parseReference("r.io/brain:").error, "tag");
    contains(parseReference("r.io/brain:-x").error, "tag");
    contains(parseReference("r.io:0/brain").error, "port");
    contains(parseReference("r.io:99999/brain").error, "port");
    contains(parseReference("r.io:12a/brain").error, "port");
    contains(parseReference("[::1]:5000/brain").error, "IPv6");
    expect(parseReference("").error.length > 0).toBe(true);
  });
  it("knows a sha256 digest when it sees one", () => {
    expect(isSha256(D1)).toBe(true);
    expect(isSha256(D1 + "0")).toBe(false);
    expect(isSha256("sha512:" + "a".repeat(64))).toBe(false);
  });
});

describe("registry challenges and URLs", () => {
  it("reads a Bearer challenge with quoted and bare parameters", () => {
    const c = parseChallenge('Bearer realm="https://127.0.0.1:5001/token",service="registry",scope="repository:picokubelet/brain:pull"');
    expect(c.scheme).toBe("bearer");
    expect(c.realm).toBe("https://127.0.0.1:5001/token");
    expect(c.service).toBe("registry");
    expect(c.scope).toBe("repository:picokubelet/brain:pull");
    const d = parseChallenge("bearer realm=https://x/t, service=s");
    expect(d.realm).toBe("https://x/t");
    expect(d.service).toBe("s");
    // Schemes and parameter names ignore case; values keep theirs.
    const m = parseChallenge('BeArEr REALM="https://X/T",Service=S,sCoPe="A:b"');
    expect(m.scheme).toBe("bearer");
    expect(m.realm).toBe("https://X/T");
    expect(m.service).toBe("S");
    expect(m.scope).toBe("A:b");
    expect(parseChallenge("BASIC realm=r").scheme).toBe("basic");
    expect(parseChallenge("Bearerx realm=r").scheme).toBe("");
  });
  it("reads Basic, and nothing from an unknown scheme or garbage", () => {
    expect(parseChallenge('Basic realm="Registry Realm"').scheme).toBe("basic");
    expect(parseChallenge("Negotiate abc").scheme).toBe("");
    expect(parseChallenge("").scheme).toBe("");
    const g = parseChallenge('Bearer realm="unterminated');
    expect(g.scheme).toBe("bearer");
    expect(g.realm).toBe("unterminated");
    expect(parseChallenge("Bearer ,,,=,=").realm).toBe("");
  });
  it("splits https URLs and refuses anything else", () => {
    const u = parseHttpsUrl("https://blobs.example:8443/a/b?x=1&y=2");
    expect(u.error).toBe("");
    expect(u.host).toBe("blobs.example");
    expect(u.port).toBe(8443);
    expect(u.target).toBe("/a/b?x=1&y=2");
    expect(parseHttpsUrl("https://h").target).toBe("/");
    expect(parseHttpsUrl("https://h?q").target).toBe("/?q");
    contains(parseHttpsUrl("http://h/x").error, "https");
    expect(parseHttpsUrl("https://user@h/x").error.length > 0).toBe(true);
    expect(parseHttpsUrl("https://[::1]/x").error.length > 0).toBe(true);
    contains(parseHttpsUrl("https://h:0/").error, "port");
    contains(parseHttpsUrl("https://h:123456/").error, "port");
    expect(parseHttpsUrl("https:///x").error.length > 0).toBe(true);
  });
  it("percent-encodes query values", () => {
    expect(queryEscape("repository:picokubelet/brain:pull")).toBe("repository%3Apicokubelet%2Fbrain%3Apull");
    expect(queryEscape("a-b_c.d~e")).toBe("a-b_c.d~e");
    expect(queryEscape("é")).toBe("%C3%A9");
  });
});

describe("brain manifests", () => {
  it("reads a signed brain for ABI 2", () => {
    const m = readManifest(manifest(layer("130000"), GOOD_ANN));
    expect(m.error).toBe("");
    expect(m.layerDigest).toBe(D1);
    expect(m.layerSize).toBe(130000);
    expect(m.version).toBe("0.2.0");
    expect(m.abi).toBe(2);
    expect(m.signature).toBe("c2ln");
    expect(m.keyId).toBe("0011223344556677");
  });
  it("refuses what is not one brain layer of a sane size", () => {
    contains(readManifest(manifest(layer("1") + "," + layer("2"), GOOD_ANN)).error, "exactly one layer");
    contains(readManifest(manifest("", GOOD_ANN)).error, "exactly one layer");
    contains(readManifest(manifest(layer("10", "application/vnd.oci.image.layer.v1.tar+gzip"), GOOD_ANN)).error, "application/wasm");
    contains(readManifest(manifest(layer("0"), GOOD_ANN)).error, "size");
    contains(readManifest(manifest(layer((BRAIN_MAX_BYTES + 1).toString()), GOOD_ANN)).error, "size");
    contains(readManifest(manifest(layer("-5"), GOOD_ANN)).error, "size");
    contains(readManifest(manifest(layer('"10"'), GOOD_ANN)).error, "size");
    contains(readManifest(manifest(layer("10", "application/wasm", "sha256:abc"), GOOD_ANN)).error, "digest");
    contains(readManifest(manifest(layer("10"), GOOD_ANN, "application/vnd.oci.image.config.v1+json")).error, "not a wasm artifact");
  });
  it("refuses another ABI, a missing version, and what is not a manifest", () => {
    contains(readManifest(manifest(layer("10"), GOOD_ANN.replace('abi":"2"', 'abi":"3"'))).error, "ABI 3");
    contains(readManifest(manifest(layer("10"), GOOD_ANN.replace('abi":"2"', 'abi":"two"'))).error, "none said");
    contains(readManifest(manifest(layer("10"), GOOD_ANN.replace('"dev.picokubelet.brain.version":"0.2.0",', ""))).error, "version");
    contains(readManifest(utf8('{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"}')).error, "not an OCI image manifest");
    contains(readManifest(utf8('{"layers":[')).error, "not JSON");
    contains(readManifest(utf8("garbage")).error, "not JSON");
  });
  it("reads the token of a token server's reply, and nothing unprintable", () => {
    expect(readToken(utf8('{"token":"abc.def","expires_in":300}'))).toBe("abc.def");
    expect(readToken(utf8('{"access_token":"xyz"}'))).toBe("xyz");
    expect(readToken(utf8('{"token":"a b"}'))).toBe("");
    expect(readToken(utf8('{"token":"a\\r\\nX-Evil: 1"}'))).toBe("");
    expect(readToken(utf8('{"token":12}'))).toBe("");
    expect(readToken(utf8('{"token":"' + "t".repeat(7000) + '"}'))).toBe("");
    expect(readToken(utf8("nope"))).toBe("");
  });
});

function secret(key: string, config: string): ByteBuffer {
  return utf8('{"kind":"Secret","type":"kubernetes.io/dockerconfigjson","data":{"' + key + '":"' + b64(config) + '"}}');
}

describe("pull secrets", () => {
  it("finds the registry's auth in a dockerconfigjson, by its exact key", () => {
    const keys = parseReference("127.0.0.1:5000/picokubelet/brain:v2").authKeys();
    const problems: string[] = [];
    const s = secret(".dockerconfigjson", '{"auths":{"other.io":{"auth":"b3RoZXI6eA=="},"127.0.0.1:5000":{"auth":"YWxpY2U6c2VjcmV0"}}}');
    expect(credentialsFrom(s, keys, problems)).toBe("YWxpY2U6c2VjcmV0");
    expect(problems.length).toBe(0);
  });
  it("builds the auth from username and password, and reads the legacy dockercfg", () => {
    const keys = parseReference("r.io/b:1").authKeys();
    const problems: string[] = [];
    expect(credentialsFrom(secret(".dockerconfigjson", '{"auths":{"https://r.io":{"username":"alice","password":"secret"}}}'), keys, problems)).toBe("YWxpY2U6c2VjcmV0");
    expect(credentialsFrom(secret(".dockercfg", '{"r.io":{"auth":"YWxpY2U6c2VjcmV0"}}'), keys, problems)).toBe("YWxpY2U6c2VjcmV0");
    expect(problems.length).toBe(0);
  });
  it("returns nothing for another registry, and says what is wrong with a bad Secret", () => {
    const keys = parseReference("r.io/b:1").authKeys();
    const problems: string[] = [];
    expect(credentialsFrom(secret(".dockerconfigjson", '{"auths":{"x.io":{"auth":"YQ=="}}}'), keys, problems)).toBe("");
    expect(problems.length).toBe(0);
    expect(credentialsFrom(utf8('{"data":{"token":"YQ=="}}'), keys, problems)).toBe("");
    contains(problems[0], ".dockerconfigjson");
    expect(credentialsFrom(utf8('{"data":{".dockerconfigjson":"!!!"}}'), keys, problems)).toBe("");
    contains(problems[1], "base64");
    expect(credentialsFrom(secret(".dockerconfigjson", "not json"), keys, problems)).toBe("");
    contains(problems[2], "not JSON");
    expect(credentialsFrom(utf8("{{{"), keys, problems)).toBe("");
    contains(problems[3], "not JSON");
  });
  it("refuses an auth that could not go into a header line", () => {
    const keys = parseReference("r.io/b:1").authKeys();
    const problems: string[] = [];
    expect(credentialsFrom(secret(".dockerconfigjson", '{"auths":{"r.io":{"auth":"YQ==\\r\\nX: 1"}}}'), keys, problems)).toBe("");
  });
});
