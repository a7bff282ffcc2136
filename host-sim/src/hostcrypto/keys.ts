// host-sim/src/hostcrypto/keys.ts
// The host's key slots (ABI.md "Host calls"): OP_KEY_GENERATE makes an ECDSA P-256 key in a slot (the
// private key stays in this process: only the public key and signatures ever leave), OP_CSR_CREATE signs
// a PKCS #10 request for a slot's key from a small spec, OP_CERT_INSTALL takes a PEM chain whose leaf
// must carry the slot's public key, OP_CERT_INFO tells the validity of what a slot holds. A new key is
// pending until a certificate for it is installed: the slot's current key and certificate stay in use
// meanwhile (a rotation never leaves the slot empty). The serving slot's certificate is what the
// kubelet-port listener presents; without one, the listener makes a short-lived self-signed certificate
// for the node's address. With a directory (host-sim's --cert-dir, the kubelet's flag) each slot's
// installed key and certificate are kept in one file of mode 0600, as the kubelet's certificate store
// keeps them (kubelet-server-current.pem, kubelet-client-current.pem), and read back at the next start.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { OID, bitString, explicit, extension, integer, name, oid, pem, seq, subjectAltName, tlv, time } from './der.js';

/** A CSR or certificate subject: CN, organisations, DNS and IP subject alternative names. */
export interface Subject {
  cn: string;
  orgs: string[];
  dns: string[];
  ips: string[];
}

/** Refused spec or certificate: the host_call answers ERR_HOST_CALL_INVALID with this message. */
export class SpecError extends Error {}

/** The validity lines of OP_CERT_INSTALL and OP_CERT_INFO: `notBefore=<unix s>\nnotAfter=<unix s>\n`. */
export function validityLines(cert: crypto.X509Certificate): string {
  const secs = (t: string): number => Math.floor(Date.parse(t) / 1000);
  return `notBefore=${secs(cert.validFrom)}\nnotAfter=${secs(cert.validTo)}\n`;
}

/** The files of the slots in a cert directory (the kubelet's names). */
export const SLOT_FILES = ['kubelet-client-current.pem', 'kubelet-server-current.pem'];

/** Parses spec lines `CN=..`, `O=..`, `DNS=..`, `IP=..` (one value per line; at most 32 lines). */
export function parseSpec(text: string): Subject {
  const out: Subject = { cn: '', orgs: [], dns: [], ips: [] };
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length > 32) throw new SpecError('more than 32 spec lines');
  for (const line of lines) {
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq) : '';
    const value = line.slice(eq + 1);
    if (!value || value.length > 253 || /[\x00-\x1f\x7f]/.test(value)) throw new SpecError(`bad spec line: ${JSON.stringify(line.slice(0, 40))}`);
    if (key === 'CN') {
      if (out.cn) throw new SpecError('more than one CN line');
      out.cn = value;
    } else if (key === 'O') out.orgs.push(value);
    else if (key === 'DNS') {
      if (!/^[a-zA-Z0-9*]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(value)) throw new SpecError(`bad DNS name: ${value}`);
      out.dns.push(value);
    } else if (key === 'IP') {
      if (net.isIP(value) === 0) throw new SpecError(`bad IP address: ${value}`);
      out.ips.push(value);
    } else throw new SpecError(`unknown spec key in ${JSON.stringify(line.slice(0, 40))} (CN, O, DNS, IP)`);
  }
  if (!out.cn) throw new SpecError('the spec has no CN line');
  return out;
}

const ECDSA_SHA256 = seq(oid(OID.ecdsaWithSha256));

function spki(key: crypto.KeyObject): Buffer {
  return crypto.createPublicKey(key).export({ type: 'spki', format: 'der' });
}

/** A PKCS #10 request for `key`'s public key, signed with it (RFC 2986 §4). */
export function createCsr(key: crypto.KeyObject, s: Subject): string {
  const exts: Buffer[] = [];
  if (s.dns.length + s.ips.length > 0) exts.push(extension(OID.subjectAltName, subjectAltName(s.dns, s.ips)));
  const attrs = exts.length > 0 ? [seq(oid(OID.extensionRequest), tlv(0x31, seq(...exts)))] : [];
  const info = seq(integer(Buffer.from([0])), name(s.cn, s.orgs), spki(key), tlv(0xa0, Buffer.concat(attrs)));
  const sig = crypto.sign('sha256', info, key);
  return pem('CERTIFICATE REQUEST', seq(info, ECDSA_SHA256, bitString(sig)));
}

/** A self-signed serving certificate for `key` (valid `days`, serverAuth, the given SANs). */
export function selfSigned(key: crypto.KeyObject, s: Subject, days = 7): string {
  const now = Date.now();
  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f;
  const exts = [
    extension(OID.basicConstraints, seq(), true),
    extension(OID.keyUsage, bitString(Buffer.from([0x80])), true),
    extension(OID.extKeyUsage, seq(oid(OID.serverAuth))),
    extension(OID.subjectAltName, subjectAltName(s.dns, s.ips)),
  ];
  const subject = name(s.cn, s.orgs);
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_SHA256,
    subject,
    seq(time(new Date(now - 60_000)), time(new Date(now + days * 86_400_000))),
    subject,
    spki(key),
    explicit(3, seq(...exts)),
  );
  return pem('CERTIFICATE', seq(tbs, ECDSA_SHA256, bitString(crypto.sign('sha256', tbs, key))));
}

/** The two slots. */
export class KeySlots {
  private keys: (crypto.KeyObject | null)[] = [null, null];
  private certs: (string | null)[] = [null, null];
  /** A key made by OP_KEY_GENERATE that no installed certificate carries yet. */
  private pending: (crypto.KeyObject | null)[] = [null, null];

  /** `dir`: where installed slots are kept (created 0700 when missing); `warn` hears about unusable files. */
  constructor(private readonly dir?: string, warn: (line: string) => void = () => {}) {
    if (!dir) return;
    for (let i = 0; i < SLOT_FILES.length; i++) {
      const file = path.join(dir, SLOT_FILES[i]);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      try {
        const key = crypto.createPrivateKey(text);
        const chain = text.split(/(?=-----BEGIN )/).filter((b) => b.startsWith('-----BEGIN CERTIFICATE-----')).join('');
        if (!new crypto.X509Certificate(chain).checkPrivateKey(key)) throw new Error('the certificate does not match the key');
        this.keys[i] = key;
        this.certs[i] = chain;
      } catch (err) {
        warn(`${file}: not a usable key and certificate (${(err as Error).message}); ignored`);
      }
    }
  }

  private slot(n: number): number {
    if (n !== 0 && n !== 1) throw new SpecError(`no key slot ${n} (0 client, 1 serving)`);
    return n;
  }

  /** OP_KEY_GENERATE: a fresh P-256 key, pending until a certificate for it is installed. */
  generate(n: number): void {
    this.pending[this.slot(n)] = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  }

  /** OP_CSR_CREATE: signed with the pending key (else the current one). */
  csr(n: number, spec: string): string {
    const i = this.slot(n);
    const key = this.pending[i] ?? this.keys[i];
    if (!key) throw new SpecError(`key slot ${n} has no key (OP_KEY_GENERATE first)`);
    return createCsr(key, parseSpec(spec));
  }

  /**
   * OP_CERT_INSTALL: the leaf (first PEM block) must carry the pending key (else the current one); it
   * becomes the slot's key and certificate. Returns the validity lines.
   */
  install(n: number, chainPem: string): string {
    const i = this.slot(n);
    const key = this.pending[i] ?? this.keys[i];
    if (!key) throw new SpecError(`key slot ${n} has no key (OP_KEY_GENERATE first)`);
    let leaf: crypto.X509Certificate;
    try {
      leaf = new crypto.X509Certificate(chainPem);
    } catch (err) {
      throw new SpecError(`not a PEM certificate: ${(err as Error).message}`);
    }
    if (!leaf.checkPrivateKey(key)) throw new SpecError(`the certificate does not match key slot ${n}`);
    if (this.dir) this.store(i, key, chainPem);
    this.keys[i] = key;
    this.certs[i] = chainPem;
    this.pending[i] = null;
    return validityLines(leaf);
  }

  /** OP_CERT_INFO: the validity lines of the slot's certificate; an Error ("no certificate") when it has none. */
  info(n: number): string {
    const i = this.slot(n);
    const cert = this.certs[i];
    if (!cert || !this.keys[i]) throw new Error(`no certificate in key slot ${n}`);
    return validityLines(new crypto.X509Certificate(cert));
  }

  /** The slot's key and installed chain, if both exist. */
  identity(n: number): { key: crypto.KeyObject; cert: string } | null {
    const key = this.keys[n];
    const cert = this.certs[n];
    return key && cert ? { key, cert } : null;
  }

  /** Writes a slot's file (certificate chain, then the PKCS #8 key), mode 0600, replacing the old one at once. */
  private store(i: number, key: crypto.KeyObject, chainPem: string): void {
    const dir = this.dir!;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, SLOT_FILES[i]);
    const tmp = `${file}.tmp-${process.pid}`;
    const keyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
    fs.writeFileSync(tmp, (chainPem.endsWith('\n') ? chainPem : chainPem + '\n') + keyPem, { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  }
}
