/** The certificate manager's pieces: base64, the CSR object written and read back, validity lines, the renewal schedule. */
import { base64Decode, base64Encode } from "../../assembly/util/base64";
import { CERT_B64_MAX, CsrStatus, csrBody, looksLikePem, objectName, readCsr, readValidity } from "../../assembly/node/csr";
import { renewalAt } from "../../assembly/node/certificate";
import { ByteBuffer, utf8 } from "../../assembly/util/bytes";
import { Random } from "../../assembly/util/random";

function enc(s: string): string {
  const src = utf8(s);
  const out = new ByteBuffer(16, 1024);
  base64Encode(out, src.ptr, src.length);
  return out.toString();
}

function dec(s: string, limit: i32 = 1024): string | null {
  const out = new ByteBuffer(16, limit);
  return base64Decode(utf8(s), out) ? out.toString() : null;
}

function csr(json: string): CsrStatus {
  const b = utf8(json);
  return readCsr(b.ptr, b.length);
}

describe("base64", () => {
  it("encodes the RFC 4648 test vectors", () => {
    expect(enc("")).toBe("");
    expect(enc("f")).toBe("Zg==");
    expect(enc("fo")).toBe("Zm8=");
    expect(enc("foo")).toBe("Zm9v");
    expect(enc("foob")).toBe("Zm9vYg==");
    expect(enc("fooba")).toBe("Zm9vYmE=");
    expect(enc("foobar")).toBe("Zm9vYmFy");
  });
  it("decodes them back, and every byte value round-trips", () => {
    expect(dec("Zg==")!).toBe("f");
    expect(dec("Zm8=")!).toBe("fo");
    expect(dec("Zm9vYmFy")!).toBe("foobar");
    const all = new ByteBuffer(256, 256);
    for (let i = 0; i < 256; i++) all.byte(i);
    const e = new ByteBuffer(16, 1024);
    base64Encode(e, all.ptr, all.length);
    const d = new ByteBuffer(16, 1024);
    expect(base64Decode(e, d)).toBe(true);
    expect(d.length).toBe(256);
    for (let i = 0; i < 256; i++) expect(d.at(i)).toBe(i);
  });
  it("refuses what is not canonical padded base64", () => {
    expect(dec("")).toBeNull();
    expect(dec("Zg=")).toBeNull();
    expect(dec("Zg")).toBeNull();
    expect(dec("Z===")).toBeNull();
    expect(dec("Zg==Zg==")).toBeNull();
    expect(dec("Zm9v\nYmFy")).toBeNull();
    expect(dec("Zm9-")).toBeNull();
    expect(dec("=Zm9")).toBeNull();
  });
  it("refuses an output larger than its budget", () => {
    expect(dec("Zm9vYmFy", 5)).toBeNull();
    expect(dec("Zm9vYmFy", 6)!).toBe("foobar");
  });
});

describe("CSR object", () => {
  it("the POST body is exact", () => {
    const b = new ByteBuffer(64, 4096);
    csrBody(b, utf8("UEVN"), "kubernetes.io/kubelet-serving", ["digital signature", "server auth"]);
    expect(b.toString()).toBe('{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest",' +
      '"metadata":{"generateName":"csr-"},"spec":{"request":"UEVN","signerName":"kubernetes.io/kubelet-serving",' +
      '"usages":["digital signature","server auth"]}}');
    b.clear();
    csrBody(b, utf8("UEVN"), "kubernetes.io/kube-apiserver-client-kubelet", ["digital signature", "client auth"], 3600);
    expect(b.toString()).toBe('{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest",' +
      '"metadata":{"generateName":"csr-"},"spec":{"request":"UEVN","signerName":"kubernetes.io/kube-apiserver-client-kubelet",' +
      '"expirationSeconds":3600,"usages":["digital signature","client auth"]}}');
  });
  it("reads the name and a pending status", () => {
    const s = csr('{"kind":"CertificateSigningRequest","metadata":{"name":"csr-abc12","uid":"u"},"spec":{"request":"eA=="},"status":{}}');
    expect(s.error).toBe("");
    expect(s.name).toBe("csr-abc12");
    expect(s.cert.length).toBe(0);
    expect(s.approved).toBe(false);
    expect(s.refused).toBe("");
  });
  it("reads approval and the certificate", () => {
    const s = csr('{"metadata":{"name":"csr-1"},"status":{"conditions":[{"type":"Approved","status":"True","reason":"AutoApproved"}],"certificate":"LS0tLS1CRUdJTg=="}}');
    expect(s.approved).toBe(true);
    expect(s.cert.toString()).toBe("LS0tLS1CRUdJTg==");
    expect(s.refused).toBe("");
  });
  it("reads a denial with its reason and message, whatever the member order", () => {
    const s = csr('{"status":{"conditions":[{"message":"not yours","reason":"ForeignSAN","type":"Denied"}]},"metadata":{"name":"csr-2"}}');
    expect(s.refused).toBe("Denied");
    expect(s.why).toBe("ForeignSAN: not yours");
    const f = csr('{"status":{"conditions":[{"type":"Approved"},{"type":"Failed","message":"signer broke"}]}}');
    expect(f.approved).toBe(true);
    expect(f.refused).toBe("Failed");
    expect(f.why).toBe("signer broke");
  });
  it("refuses names that could not be object names, and keeps going on odd types", () => {
    expect(csr('{"metadata":{"name":"../../api/v1/secrets"}}').name).toBe("");
    expect(csr('{"metadata":{"name":"CSR-X"}}').name).toBe("");
    expect(csr('{"metadata":{"name":42},"status":{"certificate":7,"conditions":"x"}}').name).toBe("");
    expect(objectName(utf8("csr-7fx2k"))).toBe(true);
    expect(objectName(utf8(""))).toBe(false);
    expect(objectName(utf8("a?b"))).toBe(false);
  });
  it("flags a certificate over its budget and reports garbage as an error", () => {
    let big = '{"status":{"certificate":"';
    for (let i = 0; i < CERT_B64_MAX / 4 + 1; i++) big += "QUFB";
    const s = csr(big + '"}}');
    expect(s.certTooLarge).toBe(true);
    expect(s.cert.length).toBe(0);
    expect(csr('{"status":{"certificate":"QUFB"').error.length).toBeGreaterThan(0);
    expect(csr("\x00\xff garbage").error.length).toBeGreaterThan(0);
    expect(csr("").error.length).toBeGreaterThan(0);
  });
  it("a decoded certificate must look like PEM", () => {
    expect(looksLikePem(utf8("-----BEGIN CERTIFICATE-----\nMIIB\n"))).toBe(true);
    expect(looksLikePem(utf8("-----BEGIN PRIVATE KEY-----\n"))).toBe(false);
    expect(looksLikePem(utf8(""))).toBe(false);
  });
});

describe("validity lines", () => {
  it("reads notBefore and notAfter in any order", () => {
    const b = utf8("notAfter=1777740000\nnotBefore=1777736400\n");
    const v = readValidity(b.ptr, b.length)!;
    expect(v[0]).toBe(1777736400);
    expect(v[1]).toBe(1777740000);
    const c = utf8("notBefore=1\nnotAfter=2");
    expect(readValidity(c.ptr, c.length)![1]).toBe(2);
  });
  it("refuses missing, inverted or malformed lines", () => {
    const cases = ["", "notBefore=5\n", "notBefore=9\nnotAfter=5\n", "notBefore=-1\nnotAfter=5\n", "notBefore=1x\nnotAfter=5\n",
      "notBefore=1\nnotAfter=99999999999999\n", "\n\n\n=\n"];
    for (let i = 0; i < cases.length; i++) {
      const b = utf8(cases[i]);
      expect(readValidity(b.ptr, b.length)).toBeNull();
    }
  });
});

describe("renewal schedule", () => {
  it("falls in 70..90 % of the lifetime, spread over the window", () => {
    const rng = new Random(42);
    const nb: i64 = 1777736400;
    const na: i64 = nb + 365 * 86400;
    const life = (na - nb) * 1000;
    let lo: i64 = life;
    let hi: i64 = 0;
    for (let i = 0; i < 500; i++) {
      const at = renewalAt(nb, na, rng) - nb * 1000;
      expect(at >= (life * 7) / 10).toBe(true);
      expect(at <= (life * 9) / 10).toBe(true);
      if (at < lo) lo = at;
      if (at > hi) hi = at;
    }
    // Jittered: the draws cover most of the window.
    expect(hi - lo > (life * 15) / 100).toBe(true);
  });
  it("a short certificate renews within its last 30..10 %", () => {
    const rng = new Random(7);
    const at = renewalAt(1000, 1100, rng);
    expect(at >= 1070_000 && at <= 1090_000).toBe(true);
  });
});
