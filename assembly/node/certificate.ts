/**
 * The kubelet's certificate manager (client-go util/certificate certificate_manager.go): keeps one key
 * slot of the host holding a certificate the cluster issued, and renews it before it expires. Generic
 * over the slot, the signer, the usages and the subject; the agent runs one for the serving slot
 * (signer kubernetes.io/kubelet-serving, SANs: the node's name and IPv4) and one for the client slot
 * (node/bootstrap.ts: the TLS bootstrap and rotation of the node's own identity).
 *
 * Theory of operation. The host owns the crypto (ABI.md "Host calls"); this file owns the Kubernetes
 * flow. At start OP_CERT_INFO asks what the slot holds: a certificate from an earlier run is used until
 * its renewal is due. Otherwise, and at renewal: OP_KEY_GENERATE (a new key, pending in the host while
 * the old certificate stays in use), OP_CSR_CREATE, POST a CertificateSigningRequest on the control lane,
 * GET it with backoff until the signer issued it (status.certificate) or someone denied it, then
 * OP_CERT_INSTALL; the host answers with the validity, and renewal is scheduled at a jittered 70–90 % of
 * notBefore..notAfter, as upstream does. A denied, failed, vanished or never-issued CSR is a warning and a
 * new attempt after a long backoff (no Event). The manager is a worker after the lease in the agent's
 * table, so its requests never go before a renewal; its host steps run from its own deadline (`tick`).
 */
import { Context, ipText } from "./context";
import { Work } from "./work";
import { Signal, Worker } from "./worker";
import { HttpRequest } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { ErrorCode, errorText } from "../abi/errors";
import { HostOp, Phase } from "../abi/codes";
import { ByteBuffer, oneLine, utf8 } from "../util/bytes";
import { Backoff } from "../util/backoff";
import { Random } from "../util/random";
import { base64Decode, base64Encode } from "../util/base64";
import { logInfo, logWarn, seconds } from "../util/log";
import { rfc3339 } from "../util/time";
import { CERT_PEM_MAX, CSR_PATH, csrBody, looksLikePem, readCsr, readValidity } from "./csr";

export enum CertStep {
  /** Not started. */
  Off = 0,
  /** OP_CERT_INFO in flight. */
  Info = 1,
  /** A certificate is in use (or an attempt failed): the next key is due at `hostAt`. */
  Waiting = 2,
  KeyGen = 3,
  CsrCreate = 4,
  /** The CSR is to be POSTed. */
  Post = 5,
  /** The CSR is posted: GET it until it is issued. */
  Poll = 6,
  Install = 7,
  /** The host has no certificate operations: nothing more to do, even after a re-registration. */
  Unsupported = 8,
}

/** Polls after the POST: jittered, a ceiling of 1 s doubling up to the cap. */
const POLL_BASE_MS: i64 = 1_000;
const POLL_CAP_MS: i64 = 30_000;
/** After this long unapproved, log how an administrator approves it (once per CSR). */
export const HINT_AFTER_MS: i64 = 60_000;
/** A CSR not issued within this long is given up (upstream waits 15 minutes). */
export const ISSUE_WAIT_MS: i64 = 15 * 60_000;
/** A new attempt after a failed one: jittered (util/backoff.ts), a ceiling of 30 s doubling to 30 min. */
const RETRY_BASE_MS: i64 = 30_000;
const RETRY_CAP_MS: i64 = 30 * 60_000;
/** Waiting for the link to report an IPv4 address before a serving CSR. */
const NO_IP_WAIT_MS: i64 = 5_000;

export class CertificateManager extends Worker {
  step: CertStep = CertStep.Off;
  /** Monotonic time the next key generation is due (renewal or retry), or -1. */
  hostAt: i64 = -1;
  /** The CSR posted and polled ("" while none). */
  csrName: string = "";
  /** Set from a snapshot before `begin`: the CSR the previous instance was waiting for. */
  resumeCsr: string = "";
  /** Validity of the certificate in use (Unix seconds; -1 while none), and when it is renewed (Unix ms). */
  notBefore: i64 = -1;
  notAfter: i64 = -1;
  renewAtMs: i64 = -1;
  /** Certificates installed since start. */
  installs: i64 = 0;
  /** Subject: CN and O (default: the node's identity, system:node:<name> in system:nodes). */
  cn: string = "";
  org: string = "system:nodes";
  /** The lifetime asked for in the CSR (0: the signer's default, a year for kube-controller-manager). */
  expirationSeconds: i64 = 0;
  protected req: i32 = 0;
  private requestB64: ByteBuffer = new ByteBuffer(1024, 8 * 1024);
  private poll: Backoff = new Backoff(POLL_BASE_MS, POLL_CAP_MS);
  private again: Backoff = new Backoff(RETRY_BASE_MS, RETRY_CAP_MS);
  private pollSince: i64 = 0;
  private hinted: bool = false;
  /** The IPv4 the CSR in progress names, and the one the installed certificate names (0: unknown). */
  private ipAsked: u32 = 0;
  private ipInUse: u32 = 0;

  /** `what` names it in log lines ("serving"); `addresses`: the node's name and IPv4 as SANs. */
  constructor(private ctx: Context, readonly what: string, readonly slot: i32, readonly signer: string,
    readonly usages: string[], readonly addresses: bool) {
    super();
  }

  /** Starts once (again is a no-op): resumes polling a snapshot's CSR, or asks the host what the slot holds. */
  begin(now: i64): void {
    if (this.step != CertStep.Off || this.req != 0) return;
    if (this.cn.length == 0) this.cn = "system:node:" + this.ctx.cfg.nodeName;
    if (this.resumeCsr.length > 0) {
      this.csrName = this.resumeCsr;
      this.resumeCsr = "";
      this.ipAsked = this.ctx.ipv4;
      this.polling(now);
      return;
    }
    this.step = CertStep.Info;
    this.host(now, HostOp.CertInfo, 0, 0);
  }

  // What a subclass may change (node/bootstrap.ts).

  /** The slot holds a certificate from an earlier run, valid `v` (Unix seconds). */
  protected found(now: i64, v: StaticArray<i64>): void {
    this.installed(now, v, "from an earlier run");
  }

  /** The slot holds nothing usable (`words`: the host's): ask the cluster for one now. */
  protected missing(now: i64, words: string): void {
    logInfo(this.what + " certificate: none in the host yet (" + words + "); requesting one from the cluster");
    this.step = CertStep.Waiting;
    this.hostAt = now;
    this.tick(now);
  }

  /** A certificate from the cluster was installed. */
  protected done(now: i64): void {}

  /** An attempt ended without a certificate (`why`); the next one is in `retryMs`. */
  protected failed(now: i64, why: string, retryMs: i64): void {
    logWarn(this.what + " certificate: " + why + "; asking again in " + seconds(retryMs));
  }

  /** The bearer token the CSR requests carry ("": the connection's own credentials). */
  protected bearer(): string {
    return "";
  }

  /** The host has no certificate operations. */
  protected unsupported(): void {
    this.step = CertStep.Unsupported;
    this.hostAt = -1;
    this.task.idle();
    logInfo(this.what + " certificate: the host has no certificate operations; it keeps its own certificate");
  }

  /** The CSR to carry on with after a hand-off ("" unless one is being polled). */
  get pendingCsr(): string {
    return this.step == CertStep.Poll ? this.csrName : "";
  }

  /** The monotonic time `tick` next has work, or -1. */
  nextStep(): i64 {
    return this.hostAt;
  }

  /** Runs a due key generation (renewal or retry); true when it did something. */
  tick(now: i64): bool {
    if (this.hostAt < 0 || now < this.hostAt || this.step != CertStep.Waiting) return false;
    this.hostAt = -1;
    if (this.addresses && this.ctx.ipv4 == 0) {
      this.hostAt = now + NO_IP_WAIT_MS;
      return false;
    }
    this.step = CertStep.KeyGen;
    this.ipAsked = this.ctx.ipv4;
    this.host(now, HostOp.KeyGenerate, 0, 0);
    return true;
  }

  /** The node's IPv4 changed: a serving certificate for the old one is replaced now. */
  addressesChanged(now: i64): void {
    if (!this.addresses || this.step != CertStep.Waiting || this.ipInUse == 0 || this.ipInUse == this.ctx.ipv4) return;
    logInfo(this.what + " certificate: the node's address changed; requesting one for " + ipText(this.ctx.ipv4));
    this.hostAt = now;
  }

  /** A host call's result; false when `req` is not this manager's. */
  onHostResult(now: i64, req: i32, status: i32, p: usize, n: i32): bool {
    if (req == 0 || req != this.req) return false;
    this.req = 0;
    // After a shutdown or a hand-off nothing more happens; in any other phase the attempt goes on.
    const phase = this.ctx.phase;
    if (phase == Phase.Stopping || phase == Phase.Stopped || phase == Phase.HandedOff || phase == Phase.Failed) return true;
    const step = this.step;
    if (step == CertStep.Info) {
      const v = status == 0 ? readValidity(p, n) : null;
      if (v !== null) this.found(now, v);
      else if (status == ErrorCode.Unsupported) this.unsupported();
      else this.missing(now, hostWords(status, p, n));
    } else if (step == CertStep.KeyGen) {
      if (status != 0) return this.fail(now, "key generation failed: " + hostWords(status, p, n));
      this.step = CertStep.CsrCreate;
      const spec = utf8(this.spec());
      this.host(now, HostOp.CsrCreate, spec.ptr, spec.length);
    } else if (step == CertStep.CsrCreate) {
      if (status != 0) return this.fail(now, "the host could not make the request: " + hostWords(status, p, n));
      const b = this.requestB64;
      b.clear();
      base64Encode(b, p, n);
      if (n == 0 || b.overflow) return this.fail(now, "the host's request is empty or too large");
      this.step = CertStep.Post;
      this.task.restart(now);
    } else if (step == CertStep.Install) {
      if (status != 0) return this.fail(now, "the host refused the issued certificate: " + hostWords(status, p, n));
      this.installs++;
      this.ipInUse = this.ipAsked;
      const v = readValidity(p, n);
      this.installed(now, v !== null ? v : defaultValidity(this.ctx.clock.wallMs(now)), "from CSR " + this.csrName);
      this.csrName = "";
      this.done(now);
    }
    return true;
  }

  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    if (this.step == CertStep.Post) {
      ctx.body.clear();
      csrBody(ctx.body, this.requestB64, this.signer, this.usages, this.expirationSeconds);
      const post = ctx.request(Work.CsrCreate, "POST", CSR_PATH, "", true, true);
      post.bearer = this.bearer();
      return post;
    }
    const get = ctx.request(Work.CsrGet, "GET", CSR_PATH + "/" + this.csrName, "", false, true);
    get.bearer = this.bearer();
    return get;
  }

  handle(now: i64, r: HttpResult): Signal {
    const o = r.outcome;
    const ctx = this.ctx;
    if (r.tag == Work.CsrCreate && this.step == CertStep.Post) {
      if (o == Outcome.Ok) {
        const s = readCsr(r.body.ptr, r.body.length);
        if (s.name.length == 0 || r.truncated) {
          this.fail(now, "the API server's answer to the CSR names no object");
          return Signal.None;
        }
        this.csrName = s.name;
        logInfo(this.what + " certificate: requested with CSR " + s.name + " (signer " + this.signer + ")");
        this.polling(now);
      } else if (o == Outcome.Transport || o == Outcome.ServerError || o == Outcome.Throttled) {
        this.task.retry(now, ctx.rng);
      } else {
        const hint = o == Outcome.AuthRefused ? " (the node may not create certificatesigningrequests: RBAC)" : "";
        this.fail(now, "creating the CSR failed: " + ctx.describe(r) + hint);
      }
      return Signal.None;
    }
    if (r.tag != Work.CsrGet || this.step != CertStep.Poll) return Signal.None;
    const name = this.csrName;
    if (o == Outcome.NotFound) {
      this.fail(now, "CSR " + name + " is gone");
      return Signal.None;
    }
    if (o == Outcome.Ok && !r.truncated) {
      const s = readCsr(r.body.ptr, r.body.length);
      if (s.error.length == 0) {
        if (s.refused.length > 0) {
          this.fail(now, "CSR " + name + " was " + (s.refused == "Denied" ? "denied" : "failed by the signer") +
            (s.why.length > 0 ? " (" + oneLine(s.why) + ")" : ""));
          return Signal.None;
        }
        if (s.certTooLarge) {
          this.fail(now, "CSR " + name + " carries a certificate larger than its budget");
          return Signal.None;
        }
        if (s.cert.length > 0) {
          const pem = new ByteBuffer(s.cert.length, CERT_PEM_MAX);
          if (!base64Decode(s.cert, pem) || !looksLikePem(pem)) {
            this.fail(now, "CSR " + name + " carries a certificate that is not base64 PEM");
            return Signal.None;
          }
          this.task.idle();
          this.step = CertStep.Install;
          this.host(now, HostOp.CertInstall, pem.ptr, pem.length);
          return Signal.None;
        }
        if (!s.approved && !this.hinted && now - this.pollSince >= HINT_AFTER_MS) {
          this.hinted = true;
          logWarn(this.what + " certificate: CSR " + name + " waits for approval (signer " + this.signer +
            "); a cluster administrator approves it with: kubectl certificate approve " + name);
        }
      }
    }
    if (now - this.pollSince >= ISSUE_WAIT_MS) {
      this.fail(now, "CSR " + name + " was not issued within " + seconds(ISSUE_WAIT_MS));
      return Signal.None;
    }
    this.task.at(now + this.poll.next(ctx.rng));
    return Signal.None;
  }

  /** The spec lines of OP_CSR_CREATE. */
  spec(): string {
    let s = "CN=" + this.cn + "\nO=" + this.org + "\n";
    if (this.addresses) {
      s += "DNS=" + this.ctx.cfg.nodeName + "\n";
      if (this.ctx.ipv4 != 0) s += "IP=" + ipText(this.ctx.ipv4) + "\n";
    }
    return s;
  }

  private polling(now: i64): void {
    this.step = CertStep.Poll;
    this.pollSince = now;
    this.hinted = false;
    this.poll.reset();
    this.task.succeeded();
    this.task.at(now + this.poll.next(this.ctx.rng));
  }

  /** A certificate with validity `v` (Unix seconds) is in use: renewal at a jittered 70–90 % of its life. */
  protected installed(now: i64, v: StaticArray<i64>, whence: string): void {
    const ctx = this.ctx;
    this.notBefore = v[0];
    this.notAfter = v[1];
    this.again.reset();
    this.task.idle();
    const at = renewalAt(v[0], v[1], ctx.rng);
    this.renewAtMs = at;
    let wait = at - ctx.clock.wallMs(now);
    if (wait < 0) wait = 0;
    this.step = CertStep.Waiting;
    this.hostAt = now + wait;
    logInfo(this.what + " certificate " + whence + ": valid until " + rfc3339(v[1] * 1000, false) + ", renewal in " + seconds(wait));
  }

  /** Starts host operation `op` on the slot; a refusal ends the attempt. */
  private host(now: i64, op: HostOp, p: usize, n: i32): void {
    const req = this.ctx.hostCalls.call(op, this.slot, p, n);
    if (req > 0) {
      this.req = req;
      return;
    }
    if (-req == ErrorCode.Unsupported) this.unsupported();
    else this.fail(now, "host call " + (<i32>op).toString() + " refused: " + errorText(<ErrorCode>-req));
  }

  /** Ends the attempt with a warning; a new key and CSR after a long backoff. Returns true (for onHostResult). */
  private fail(now: i64, why: string): bool {
    this.task.idle();
    this.csrName = "";
    this.step = CertStep.Waiting;
    const d = this.again.next(this.ctx.rng);
    this.hostAt = now + d;
    this.failed(now, why, d);
    return true;
  }
}

/**
 * When a certificate valid from `notBefore` to `notAfter` (Unix seconds) is renewed, in Unix ms: at a
 * uniformly jittered 70–90 % of its lifetime (client-go certificate_manager nextRotationDeadline), so a
 * rack whose certificates were issued together does not renew together.
 */
export function renewalAt(notBefore: i64, notAfter: i64, rng: Random): i64 {
  const lifeMs = (notAfter - notBefore) * 1000;
  return notBefore * 1000 + (lifeMs / 1000) * (700 + rng.below(201));
}

/** The host's words after a failed call (bounded), else the error's name. */
function hostWords(status: i32, p: usize, n: i32): string {
  if (n <= 0) return errorText(<ErrorCode>status);
  return oneLine(String.UTF8.decodeUnsafe(p, <usize>min(n, 200)));
}

/** A host that answered an install without validity lines: treated as valid for a day from now. */
function defaultValidity(wallMs: i64): StaticArray<i64> {
  const v = new StaticArray<i64>(2);
  v[0] = wallMs / 1000;
  v[1] = v[0] + 86_400;
  return v;
}
