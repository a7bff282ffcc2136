/**
 * The host side of a brain pull for the ABI suites, as docs/brain.md "Store and verify" specifies it: a
 * slot that OP_BRAIN_WRITE fills synchronously, OP_BRAIN_COMMIT's checks in their order with their reason
 * words, and OP_BRAIN_STATUS lines. It does not swap (the suites take the snapshot and start the successor
 * themselves); it records what it was asked to swap to.
 */
import crypto from "node:crypto";
import { statement } from "../../host-sim/src/brain.js";
import { ErrorCode, HostOp, type HostCallHandler } from "./core-harness.js";

export interface Commit {
  pod: string;
  image: string;
  digest: string;
  layer: string;
  size: number;
  abi: number;
  version: string;
  signature: string;
  keyId: string;
}

const sha = (b: Buffer): string => "sha256:" + crypto.createHash("sha256").update(b).digest("hex");

export class BrainHost {
  /** Public keys brains must be signed by (none: every brain is BrainUntrusted). */
  keys: crypto.KeyObject[] = [];
  slotSize = 1024 * 1024;
  /** What OP_BRAIN_STATUS reports. */
  running = "";
  failed = "";
  reason = "";
  message = "";
  /** Commits accepted (the host would swap after each). */
  readonly accepted: Commit[] = [];
  /** Commits refused, with the words sent back. */
  readonly refusedWords: string[] = [];
  /** OP_BRAIN_WRITE calls and the image as written. */
  writes = 0;
  private image = Buffer.alloc(0);

  /** The handler for CoreHarness's `hostCall` option (every other op: ERR_UNSUPPORTED). */
  readonly handler: HostCallHandler = (_req, op, arg, bytes, result) => {
    if (op === HostOp.BRAIN_WRITE) return this.write(arg, Buffer.from(bytes));
    if (op === HostOp.BRAIN_COMMIT) {
      const words = this.commit(Buffer.from(bytes));
      if (words === "") result(0);
      else result(ErrorCode.HOST_CALL_FAILED, Buffer.from(words));
      return 0;
    }
    if (op === HostOp.BRAIN_STATUS) {
      const lines = [["running", this.running], ["failed", this.failed], ["reason", this.reason], ["message", this.message]]
        .filter(([, v]) => v !== "").map(([k, v]) => `${k}=${v}\n`).join("");
      result(0, Buffer.from(lines));
      return 0;
    }
    return -ErrorCode.UNSUPPORTED;
  };

  /** The image written so far. */
  get written(): Buffer {
    return this.image;
  }

  private write(offset: number, chunk: Buffer): number {
    this.writes++;
    if (offset === 0) this.image = Buffer.alloc(0);
    if (offset !== this.image.length || offset + chunk.length > this.slotSize) return -ErrorCode.HOST_CALL_INVALID;
    this.image = Buffer.concat([this.image, chunk]);
    return 0;
  }

  /** "" when accepted, else `<Reason>: <message>`. */
  private commit(bytes: Buffer): string {
    const nl = bytes.indexOf(0x0a);
    let c: Commit;
    try {
      c = JSON.parse(bytes.subarray(0, nl).toString("utf8"));
    } catch {
      return this.refuse("BrainInvalid: the commit line is not JSON");
    }
    const manifest = bytes.subarray(nl + 1);
    if (this.image.length !== c.size) return this.refuse(`BrainIncomplete: ${this.image.length} of ${c.size} bytes written`);
    if (sha(manifest) !== c.digest) return this.refuse(`BrainDigestMismatch: the manifest is ${sha(manifest)}, not ${c.digest}`);
    if (sha(this.image) !== c.layer) return this.refuse(`BrainDigestMismatch: the layer is ${sha(this.image)}, not ${c.layer}`);
    if (!c.signature) return this.refuse("BrainUnsigned: the brain carries no signature");
    if (this.keys.length === 0) return this.refuse("BrainUntrusted: this node trusts no brain key");
    const stmt = statement(c.layer, c.abi, c.version);
    const sig = Buffer.from(c.signature, "base64");
    if (!this.keys.some((k) => crypto.verify(null, stmt, k, sig))) return this.refuse(`BrainBadSignature: not signed by a key this node trusts (key id ${c.keyId})`);
    if (c.abi !== 2) return this.refuse(`BrainAbiUnsupported: ABI ${c.abi}`);
    if (!WebAssembly.validate(this.image)) return this.refuse("BrainInvalidModule: the image is not a WebAssembly module");
    this.accepted.push(c);
    return "";
  }

  private refuse(words: string): string {
    this.refusedWords.push(words);
    return words;
  }
}
