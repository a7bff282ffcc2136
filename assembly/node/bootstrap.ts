/**
 * The node's own identity: TLS bootstrap and rotation of its client certificate (the kubelet's
 * --bootstrap-kubeconfig and --rotate-certificates; client-go's certificate manager for the client slot).
 *
 * Theory of operation. After the clock is anchored the agent enters PHASE_BOOTSTRAPPING and asks this
 * manager (`check`) whether the node can talk as itself:
 *   - a bearer `token` is configured: yes, nothing to manage;
 *   - the host's client slot holds a certificate that has not expired: yes; it is rotated at a jittered
 *     70–90 % of its lifetime (a new key and CSR made as the node itself, approved by the cluster's
 *     selfnodeclient rule), and the host presents the new one on connections opened after the install;
 *   - the slot is empty (or its certificate expired) and a `bootstrapToken` is configured: TLS bootstrap.
 *     The CSR requests carry the bootstrap token (user system:bootstrap:<id>, which may create CSRs and
 *     have them approved as nodeclient); the CSR asks for CN=system:node:<name>, O=system:nodes, signer
 *     kubernetes.io/kube-apiserver-client-kubelet, usages digital signature and client auth;
 *   - the slot is empty and there is no bootstrap token: the host's own credentials (a client certificate
 *     from its configuration) are used as they are, and nothing is rotated;
 *   - the certificate expired and there is no bootstrap token: an error that says what to do, the Warning
 *     LED, and the node tries anyway (the API server has the last word).
 * Once a certificate is installed the agent moves every lane to it (http/lane.ts `recycle`): the TLS
 * client certificate is chosen at the handshake, so only new connections carry it. A denied or failed
 * bootstrap CSR is an error line and the Warning LED, and a new key and CSR after the manager's backoff.
 * The private key never leaves the host; the core sees only requests, certificates and validity.
 */
import { Context } from "./context";
import { CertificateManager, CertStep } from "./certificate";
import { Signal } from "./worker";
import { KeySlot } from "../abi/codes";
import { logError, logInfo } from "../util/log";
import { rfc3339 } from "../util/time";

/** The signer of kubelet client certificates (kube-controller-manager signs it with the cluster's client CA). */
export const CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet";
/** Key usages of a kubelet client certificate (an ECDSA key needs no key encipherment). */
const CLIENT_USAGES: string[] = ["digital signature", "client auth"];

export class ClientCertificateManager extends CertificateManager {
  /** What the agent acts on next (`take`): Credentialed once the node can talk as itself. */
  private ready: Signal = Signal.None;
  /** A certificate was installed: the lanes are to move to it (`takeMoved`). */
  private moved: bool = false;
  /** The attempt in progress uses the bootstrap token. */
  bootstrapping: bool = false;
  /** The slot's certificate is the node's identity and is rotated (false: the host's own, or a token). */
  managed: bool = false;

  constructor(private c: Context) {
    super(c, "client", KeySlot.Client, CLIENT_SIGNER, CLIENT_USAGES, false);
  }

  /** PHASE_BOOTSTRAPPING began: decide whether the node has an identity (see the file comment). */
  check(now: i64): void {
    if (this.c.cfg.token.length > 0 || this.step != CertStep.Off) {
      this.ready = Signal.Credentialed;
      return;
    }
    this.begin(now);
  }

  /** The signal for the agent, once. */
  take(): Signal {
    const s = this.ready;
    this.ready = Signal.None;
    return s;
  }

  /** True once after every install: the agent recycles its lanes. */
  takeMoved(): bool {
    const m = this.moved;
    this.moved = false;
    return m;
  }

  /** Runs a due rotation; a certificate that expired meanwhile is replaced with the bootstrap token if there is one. */
  tick(now: i64): bool {
    if (this.step == CertStep.Waiting && this.hostAt >= 0 && now >= this.hostAt && this.expired(now) && this.hasToken()) {
      if (!this.bootstrapping) logInfo("client certificate expired at " + rfc3339(this.notAfter * 1000, false) + "; a new one with the bootstrap token");
      this.bootstrapping = true;
    }
    return super.tick(now);
  }

  protected found(now: i64, v: StaticArray<i64>): void {
    this.notAfter = v[1];
    if (!this.expired(now)) {
      this.managed = true;
      super.found(now, v);
      this.ready = Signal.Credentialed;
      return;
    }
    const when = rfc3339(v[1] * 1000, false);
    if (this.hasToken()) {
      logInfo("client certificate expired at " + when + "; TLS bootstrap with the bootstrap token");
      this.startBootstrap(now);
      return;
    }
    this.idleForever();
    this.c.credentialProblem = "the client certificate expired at " + when;
    logError("client certificate expired at " + when + " and no bootstrap token is configured: give the node a bootstrap " +
      "token (bootstrapToken; a bootstrap kubeconfig) or a new node identity; trying the expired one");
    this.ready = Signal.Credentialed;
  }

  protected missing(now: i64, words: string): void {
    if (this.hasToken()) {
      logInfo("client certificate: none yet (" + words + "); TLS bootstrap with the bootstrap token, CSR for system:node:" + this.c.cfg.nodeName);
      this.startBootstrap(now);
      return;
    }
    // The host authenticates with credentials of its own configuration; they are not the core's to rotate.
    this.idleForever();
    this.ready = Signal.Credentialed;
  }

  protected unsupported(): void {
    super.unsupported();
    this.ready = Signal.Credentialed;
  }

  protected done(now: i64): void {
    this.moved = true;
    this.managed = true;
    this.c.credentialProblem = "";
    if (this.bootstrapping) {
      this.bootstrapping = false;
      logInfo("TLS bootstrap done: the node talks as system:node:" + this.c.cfg.nodeName + " from now on");
      this.ready = Signal.Credentialed;
    }
  }

  protected failed(now: i64, why: string, retryMs: i64): void {
    if (!this.bootstrapping) {
      super.failed(now, why, retryMs);
      return;
    }
    this.c.credentialProblem = "TLS bootstrap: " + why;
    logError("TLS bootstrap failed: " + why + ". The node cannot join until a CSR for it is approved (the bootstrap " +
      "token's group needs the nodeclient approval binding: deploy/bootstrap-rbac.yaml); trying again in " + (retryMs / 1000).toString() + " s");
  }

  protected bearer(): string {
    return this.bootstrapping ? this.c.cfg.bootstrapToken : "";
  }

  private hasToken(): bool {
    return this.c.cfg.bootstrapToken.length > 0;
  }

  private expired(now: i64): bool {
    return this.notAfter >= 0 && this.notAfter * 1000 <= this.c.clock.wallMs(now);
  }

  private startBootstrap(now: i64): void {
    this.bootstrapping = true;
    this.step = CertStep.Waiting;
    this.hostAt = now;
    this.tick(now);
  }

  /** Nothing to manage: the slot stays as the host has it. */
  private idleForever(): void {
    this.step = CertStep.Unsupported;
    this.hostAt = -1;
    this.task.idle();
  }
}
