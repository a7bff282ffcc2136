/**
 * A test signer for PKCS #10 requests: reads the subject and public key out of a CSR's DER and issues an
 * X.509 certificate for them (and the request's extensions: its SANs) from a throw-away ECDSA key or a
 * given ECDSA CA, with the validity a test asks for (the fake API server's virtual wall clock is not the
 * machine's). The end-to-end suites use the cluster's real signer.
 */
import crypto from "node:crypto";
import { OID, bitString, explicit, extension, integer, name, oid, pem, seq, time } from "../../host-sim/src/hostcrypto/der.js";

/** The TLVs directly inside the constructed TLV at the start of `der`. */
function children(der: Buffer): Buffer[] {
  const [start, end] = bounds(der, 0);
  const out: Buffer[] = [];
  for (let off = start; off < end; ) {
    const [s, e] = bounds(der, off);
    out.push(der.subarray(off, e));
    off = e;
    void s;
  }
  return out;
}

/** [body start, end] of the TLV at `off`. */
function bounds(der: Buffer, off: number): [number, number] {
  let len = der[off + 1];
  let head = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | der[off + 2 + i];
    head = 2 + n;
  }
  return [off + head, off + head + len];
}

export class TestSigner {
  readonly key: crypto.KeyObject;
  private readonly issuer: Buffer;
  private serial = 1;

  /** `ca`: an ECDSA CA (PEM) to sign as; default a throw-away key with a made-up issuer name. */
  constructor(ca?: { cert: string; key: string }) {
    if (ca) {
      this.key = crypto.createPrivateKey(ca.key);
      this.issuer = children(children(new crypto.X509Certificate(ca.cert).raw)[0])[5];
    } else {
      this.key = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
      this.issuer = name("picokubelet test signer", []);
    }
  }

  /** True when `certPem` was issued by this signer and is valid at `atMs` (Unix ms). */
  valid(certPem: string, atMs: number): boolean {
    try {
      const x = new crypto.X509Certificate(certPem);
      return x.verify(crypto.createPublicKey(this.key)) && Date.parse(x.validFrom) <= atMs && atMs <= Date.parse(x.validTo);
    } catch {
      return false;
    }
  }

  /**
   * Approves a CertificateSigningRequest object as a controller manager would and issues its certificate,
   * valid from `notBeforeMs` to `notAfterMs`, into `csr.status`.
   */
  approve(csr: { spec: { request: string }; status?: unknown }, notBeforeMs: number, notAfterMs: number): void {
    const cert = this.sign(Buffer.from(csr.spec.request, "base64").toString("utf8"), notBeforeMs, notAfterMs);
    csr.status = { conditions: [{ type: "Approved", status: "True" }], certificate: Buffer.from(cert).toString("base64") };
  }

  /** A PEM certificate for the request's subject and key, valid over [notBeforeMs, notAfterMs] (Unix ms). */
  sign(csrPem: string, notBeforeMs: number, notAfterMs: number): string {
    const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
    const info = children(children(der)[0]);
    const subject = info[1];
    const spki = info[2];
    // The request's own extensions (extensionRequest attributes): its subjectAltName.
    const copied: Buffer[] = [];
    for (const attr of info[3] ? children(info[3]) : []) {
      const [type, values] = children(attr);
      if (type.equals(oid(OID.extensionRequest))) copied.push(...children(children(values)[0]));
    }
    const alg = seq(oid(OID.ecdsaWithSha256));
    const tbs = seq(
      explicit(0, integer(Buffer.from([2]))),
      integer(Buffer.from([0, this.serial++])),
      alg,
      this.issuer,
      seq(time(new Date(notBeforeMs)), time(new Date(notAfterMs))),
      subject,
      spki,
      explicit(3, seq(extension(OID.keyUsage, bitString(Buffer.from([0x80])), true), extension(OID.extKeyUsage, seq(oid(OID.serverAuth))), ...copied)),
    );
    return pem("CERTIFICATE", seq(tbs, alg, bitString(crypto.sign("sha256", tbs, this.key))));
  }
}
