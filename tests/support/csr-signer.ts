/**
 * A test signer for PKCS #10 requests: reads the subject and public key out of a CSR's DER and issues an
 * X.509 certificate for them from a throw-away ECDSA CA, with the validity a test asks for (the fake API
 * server's virtual wall clock is not the machine's). Enough for the ABI suites, where the host only checks
 * that the leaf carries the slot's key; the end-to-end suites use the cluster's real signer.
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
  readonly key = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  private serial = 1;

  /** A PEM certificate for the request's subject and key, valid over [notBeforeMs, notAfterMs] (Unix ms). */
  sign(csrPem: string, notBeforeMs: number, notAfterMs: number): string {
    const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
    const info = children(children(der)[0]);
    const subject = info[1];
    const spki = info[2];
    const alg = seq(oid(OID.ecdsaWithSha256));
    const tbs = seq(
      explicit(0, integer(Buffer.from([2]))),
      integer(Buffer.from([0, this.serial++])),
      alg,
      name("picokubelet test signer", []),
      seq(time(new Date(notBeforeMs)), time(new Date(notAfterMs))),
      subject,
      spki,
      explicit(3, seq(extension(OID.keyUsage, bitString(Buffer.from([0x80])), true), extension(OID.extKeyUsage, seq(oid(OID.serverAuth))))),
    );
    return pem("CERTIFICATE", seq(tbs, alg, bitString(crypto.sign("sha256", tbs, this.key))));
  }
}
