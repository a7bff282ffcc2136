/**
 * The brain puller: follows the node's trusted brain pod, pulls the brain it names from its registry over
 * a lane of its own, hands it to the host to verify and swap to, and shows on the pod what came of it
 * (docs/brain.md "Pull", "Store and verify", "Roll back").
 *
 * Theory of operation. One brain pod at most is followed (pods/admission.ts refuses a second). When the
 * first one arrives, OP_BRAIN_STATUS asks the host which brain this instance is (`running`) and which one
 * was last rolled back (`failed`). Then, for the pod's image: its imagePullSecrets are read on the control lane
 * (the Node authorizer lets a node read the secrets of its pods); the manifest is fetched on the registry
 * lane (PROFILE_PUBLIC, no cluster credentials), answering a 401 challenge with a bearer token from the
 * realm or with Basic credentials; a manifest that is not a signed brain for this ABI is refused before any
 * layer byte moves; the layer is streamed straight into the host's slot (brain/sink.ts), following up to
 * MAX_REDIRECTS redirects to a blob store (credentials never follow to another host); then OP_BRAIN_COMMIT
 * hands the host the manifest to check and swap. The pod's container waits with the kubelet's reasons
 * (ContainerCreating, ErrImagePull, ImagePullBackOff, InvalidImageName) or the host's (BrainUnsigned,
 * BrainBadSignature, …), and turns Running in the instance that is that brain. A digest the host refused,
 * or rolled back, is not pulled again while the pod names it.
 *
 * Every request goes through the agent's table like any worker's: the puller sits after the lease and
 * the status, so a pull never delays a renewal, and its lane is its own, so a slow blob holds nothing else.
 */
import { HostOp, Profile } from "../abi/codes";
import { ErrorCode, errorText } from "../abi/errors";
import { Endpoint, HttpResult, Lane } from "../http/lane";
import { HttpRequest } from "../http/request";
import { Outcome } from "../http/outcome";
import { JsonWriter } from "../json/writer";
import { Context } from "../node/context";
import { Signal, Worker } from "../node/worker";
import { Work } from "../node/work";
import { EventRecorder } from "../pods/events";
import { PodManager } from "../pods/manager";
import { Pod, Stage } from "../pods/pod";
import { Backoff } from "../util/backoff";
import { ByteBuffer, oneLine } from "../util/bytes";
import { logInfo, logWarn, seconds } from "../util/log";
import { parseChallenge, parseHttpsUrl, queryEscape } from "./challenge";
import { BRAIN_ABI, LAYER_TYPE, Manifest, MANIFEST_MAX_BYTES, MANIFEST_TYPE, readManifest, readToken } from "./manifest";
import { credentialsFrom } from "./pullsecret";
import { ImageRef, isSha256, parseReference } from "./reference";
import { SlotSink } from "./sink";

/** The agent's lane index of the registry lane. */
export const REGISTRY_LANE = 3;
/** Redirects a blob request follows (registries send one, to their blob store). */
export const MAX_REDIRECTS = 3;
/** A blob stream silent this long is dead. */
export const BLOB_PROGRESS_MS: i64 = 30_000;
/** After a failed pull: the kubelet's image backoff, 10 s doubling to 5 min. */
const PULL_BASE_MS: i64 = 10_000;
const PULL_CAP_MS: i64 = 300_000;
/** Longest a pulled brain waits for the events before it to be sent. */
const FLUSH_WAIT_MS: i64 = 10_000;
/** Digests remembered as refused. */
const REFUSED_MAX = 4;

/** Where the pull of the followed pod is. */
export enum PullStep {
  /** No brain pod, or waiting for OP_BRAIN_STATUS. */
  Off = 0,
  /** Reading the pod's imagePullSecrets (control lane). */
  Secret = 1,
  Manifest = 2,
  /** A token from the registry's realm, then the request that was refused again. */
  Token = 3,
  Blob = 4,
  /** OP_BRAIN_COMMIT in flight. */
  Commit = 5,
  /** The layer is stored; the commit waits for the events said so far to be sent (a swap drops the queue). */
  Flush = 9,
  /** The host took the brain: it swaps right after this event. */
  Swapping = 6,
  /** Nothing to do: the pod shows the brain running, a refusal, or a roll-back. */
  Settled = 7,
  /** The host has no brain operations. */
  Unsupported = 8,
}

export class BrainPuller extends Worker {
  /** The registry the lane talks to (moved by token realms and redirects). */
  readonly registry: Endpoint = new Endpoint();
  readonly stream: Lane = new Lane(this.registry, this.ctx.outbox, this.ctx.net, MANIFEST_MAX_BYTES);
  step: PullStep = PullStep.Off;

  // What the host says (OP_BRAIN_STATUS).
  /** The manifest digest of the brain this instance is ("": the one the host started with). */
  running: string = "";
  failedDigest: string = "";
  failedWords: string = "";
  /** OP_BRAIN_STATUS answered (or is unsupported). */
  hostKnown: bool = false;

  // The brain pod the previous instance committed to (snapshot section `brain`), and what this one commits to.
  committedPod: string = "";
  committedImage: string = "";
  committedDigest: string = "";
  committedVersion: string = "";
  /** Restarts the pod had counted when it was committed. */
  committedRestarts: i32 = 0;

  private pod: Pod | null = null;
  private image: string = "";
  private ref: ImageRef = new ImageRef();
  private secretAt: i32 = 0;
  /** `Basic <base64>` from the pull secrets ("" when none). */
  private basic: string = "";
  /** What the next registry request sends as Authorization. */
  private auth: string = "";
  private authAnswered: bool = false;
  /** The request to send again once a token is in hand. */
  private afterToken: PullStep = PullStep.Manifest;
  private tokenTarget: string = "";
  /** The registry's own place (the lane returns there after a realm or a redirect). */
  private target: string = "";
  private redirects: i32 = 0;
  private manifest: Manifest = new Manifest();
  private manifestBytes: ByteBuffer = new ByteBuffer(1024, MANIFEST_MAX_BYTES);
  private digest: string = "";
  private sink: SlotSink = new SlotSink();
  private backoff: Backoff = new Backoff(PULL_BASE_MS, PULL_CAP_MS);
  private startedAt: i64 = 0;
  private req: i32 = 0;
  /** When a failed attempt is tried again (-1: none). */
  private retryAt: i64 = -1;
  private refused: string[] = [];
  private refusedWords: string[] = [];
  /** The pod's Created/Started events of this instance were sent. */
  private announced: bool = false;

  constructor(private ctx: Context, private pods: PodManager, private events: EventRecorder) {
    super();
    this.registry.profile = Profile.Public;
  }

  /** Asks the host which brain this instance is (once; the answer comes as a host result). */
  begin(now: i64): void {
    if (this.hostKnown || this.req != 0) return;
    const req = this.ctx.hostCalls.call(HostOp.BrainStatus, 0);
    if (req > 0) {
      this.req = req;
      return;
    }
    this.hostKnown = true;
    if (-req == ErrorCode.Unsupported) this.step = PullStep.Unsupported;
  }

  /** After every event: the brain pod the node holds now (null: none). A new pod or image starts over. */
  follow(now: i64, pod: Pod | null): void {
    const was = this.pod;
    if (pod === null) {
      if (was !== null) this.stop();
      return;
    }
    if (was !== null && was.uid == pod.uid && this.image == pod.images[0]) {
      this.flushed(now);
      return;
    }
    if (!this.hostKnown) {
      // Asked once, when the first brain pod arrives: a node without brain pods never asks.
      this.begin(now);
      if (!this.hostKnown) return;
    }
    this.stop();
    this.pod = pod;
    this.image = pod.images[0];
    this.announced = false;
    this.backoff.reset();
    this.evaluate(now);
  }

  /** A host call's result; false when `req` is not the puller's. */
  onHostResult(now: i64, req: i32, status: i32, p: usize, n: i32): bool {
    if (req == 0 || req != this.req) return false;
    this.req = 0;
    if (!this.hostKnown) {
      this.hostKnown = true;
      if (status == ErrorCode.Unsupported) this.step = PullStep.Unsupported;
      else if (status == 0) this.readStatus(p, n);
      return true;
    }
    if (this.step != PullStep.Commit || this.pod === null) return true;
    const pod = this.pod!;
    if (status == 0) {
      this.step = PullStep.Swapping;
      this.committedPod = pod.uid;
      this.committedImage = this.image;
      this.committedDigest = this.digest;
      this.committedVersion = this.manifest.version;
      this.committedRestarts = pod.restartCount;
      this.waiting(now, "ContainerCreating", "swapping to brain " + this.manifest.version + " (" + this.digest + ")");
      logInfo("brain " + this.manifest.version + " (" + this.digest + ") verified by the host: swapping to it");
      return true;
    }
    if (status == ErrorCode.Unsupported) {
      this.unsupported(now);
      return true;
    }
    const words = n > 0 ? oneLine(String.UTF8.decodeUnsafe(p, <usize>min(n, 400))) : errorText(<ErrorCode>status);
    this.refuse(now, this.digest, words);
    return true;
  }

  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    const pod = this.pod!;
    if (this.step == PullStep.Secret) {
      return ctx.request(Work.BrainSecret, "GET", "/api/v1/namespaces/" + pod.namespace + "/secrets/" + pod.pullSecrets[this.secretAt], "", false, true);
    }
    const r = new HttpRequest();
    r.method = "GET";
    r.registry = true;
    r.replayable = true;
    r.bodyBudget = MANIFEST_MAX_BYTES;
    r.authorization = this.auth;
    if (this.step == PullStep.Token) {
      r.tag = Work.BrainToken;
      r.path = this.tokenTarget;
      r.authorization = this.basic;
    } else if (this.step == PullStep.Manifest) {
      r.tag = Work.BrainManifest;
      r.path = this.target;
      r.accept = MANIFEST_TYPE;
    } else {
      r.tag = Work.BrainBlob;
      r.path = this.target;
      r.accept = LAYER_TYPE + ", */*";
      this.sink.expected = this.manifest.layerSize;
      r.sink = this.sink;
      r.progressMs = BLOB_PROGRESS_MS;
    }
    return r;
  }

  handle(now: i64, r: HttpResult): Signal {
    if (this.pod === null) return Signal.None;
    const tag = r.tag;
    const step = this.step;
    if (tag == Work.BrainSecret && step == PullStep.Secret) this.onSecret(now, r);
    else if (tag == Work.BrainToken && step == PullStep.Token) this.onToken(now, r);
    else if (tag == Work.BrainManifest && step == PullStep.Manifest) this.onManifest(now, r);
    else if (tag == Work.BrainBlob && step == PullStep.Blob) this.onBlob(now, r);
    return Signal.None;
  }

  // ------------------------------------------------------------------ steps

  /** Decides what the pod needs now: running, rolled back, refused, invalid, or a pull. */
  private evaluate(now: i64): void {
    const pod = this.pod!;
    if (this.step == PullStep.Unsupported) {
      this.unsupported(now);
      return;
    }
    const ref = parseReference(this.image);
    this.ref = ref;
    if (ref.error.length > 0) {
      this.settle("InvalidImageName", "Failed to apply default image tag \"" + this.image + "\": couldn't parse image name \"" + this.image +
        "\": " + ref.error);
      this.events.podEvent(now, pod, pod.containers[0], false, true, "InspectFailed", pod.message);
      this.changed(now);
      return;
    }
    // A digest reference needs no request to know what it names.
    if (ref.digest.length > 0 && this.known(now, ref.digest)) return;
    this.pull(now);
  }

  /** Shows what is already known of `digest` (running, rolled back, refused); false when it must be pulled. */
  private known(now: i64, digest: string): bool {
    const pod = this.pod!;
    if (digest == this.running) {
      this.runningBrain(now, digest);
      return true;
    }
    if (digest == this.failedDigest) {
      const restarts = this.committedPod == pod.uid ? this.committedRestarts : pod.restartCount;
      pod.restartCount = restarts + 1;
      this.settle("CrashLoopBackOff", "brain " + digest + " rolled back: " + this.failedWords);
      this.events.podEvent(now, pod, pod.containers[0], false, true, "BackOff", "Back-off restarting failed brain " + digest + ": " + this.failedWords);
      logWarn("brain pod " + pod.key + ": " + pod.message);
      this.changed(now);
      return true;
    }
    const i = this.refused.indexOf(digest);
    if (i >= 0) {
      this.showRefusal(this.refusedWords[i]);
      this.changed(now);
      return true;
    }
    return false;
  }

  /** Starts a pull: secrets first (if any), then the manifest. */
  private pull(now: i64): void {
    const pod = this.pod!;
    const ref = this.ref;
    this.startedAt = now;
    this.basic = "";
    this.auth = "";
    this.authAnswered = false;
    this.redirects = 0;
    this.stream.retarget(ref.host, ref.port, ref.host);
    this.target = "/v2/" + ref.repository + "/manifests/" + ref.manifestRef;
    if (this.backoff.failures == 0) this.waiting(now, "ContainerCreating", "");
    this.secretAt = 0;
    if (pod.pullSecrets.length > 0) this.go(now, PullStep.Secret);
    else this.manifestStep(now);
  }

  private onSecret(now: i64, r: HttpResult): void {
    const pod = this.pod!;
    const name = pod.pullSecrets[this.secretAt];
    const o = r.outcome;
    if (o == Outcome.Transport || o == Outcome.ServerError || o == Outcome.Throttled) {
      this.task.retry(now, this.ctx.rng);
      return;
    }
    if (o == Outcome.Ok && !r.truncated) {
      const problems: string[] = [];
      const c = credentialsFrom(r.body, this.ref.authKeys(), problems);
      if (c.length > 0) this.basic = "Basic " + c;
      else if (problems.length > 0) logWarn("brain pod " + pod.key + ": imagePullSecret " + name + ": " + problems[0]);
    } else {
      // The kubelet goes on without it (FailedToRetrieveImagePullSecret): the registry may not need it.
      const why = o == Outcome.NotFound ? "not found" : this.ctx.describe(r);
      this.events.podEvent(now, pod, "", false, true, "FailedToRetrieveImagePullSecret",
        "Unable to retrieve some image pull secrets (" + name + "); attempting to pull the image may not succeed.");
      logWarn("brain pod " + pod.key + ": imagePullSecret " + name + ": " + why);
    }
    this.secretAt++;
    if (this.basic.length == 0 && this.secretAt < pod.pullSecrets.length) this.go(now, PullStep.Secret);
    else this.manifestStep(now);
  }

  /** An attempt's pull proper begins (after its secrets, as the kubelet's): a Pulling event, then the manifest. */
  private manifestStep(now: i64): void {
    const pod = this.pod!;
    this.events.podEvent(now, pod, pod.containers[0], false, false, "Pulling", "Pulling image \"" + this.image + "\"");
    this.go(now, PullStep.Manifest);
  }

  private onManifest(now: i64, r: HttpResult): void {
    const s = r.status;
    if (!r.ok) return this.failed(now, this.ctx.describe(r));
    if (s == 401) return this.challenged(now, r, PullStep.Manifest);
    if (s == 404) return this.failed(now, "manifest unknown: " + this.ref.registry + "/" + this.ref.repository + ":" + this.ref.manifestRef + " is not in the registry");
    if (s != 200) return this.failed(now, "the registry answered the manifest request with " + this.ctx.describe(r));
    if (r.truncated) return this.failed(now, "the manifest is larger than " + MANIFEST_MAX_BYTES.toString() + " bytes");
    const m = readManifest(r.body);
    this.manifest = m;
    const digest = this.ref.digest.length > 0 ? this.ref.digest : r.contentDigest.trim();
    if (!isSha256(digest)) {
      return this.failed(now, "the registry did not say the manifest's digest (Docker-Content-Digest); name the brain by digest: " +
        this.ref.registry + "/" + this.ref.repository + "@sha256:<digest>");
    }
    this.digest = digest;
    if (this.known(now, digest)) return;
    if (m.error.length > 0) return this.refuse(now, digest, "BrainInvalid: " + this.image + " is not a picokubelet brain: " + m.error);
    // The host would refuse it too, but only after the whole layer came down.
    if (m.signature.length == 0) {
      return this.refuse(now, digest, "BrainUnsigned: " + this.image + " carries no signature (publish it with `picokubelet-sim push --key`)");
    }
    this.manifestBytes.clear();
    this.manifestBytes.append(r.body);
    this.redirects = 0;
    this.target = "/v2/" + this.ref.repository + "/blobs/" + m.layerDigest;
    this.go(now, PullStep.Blob);
  }

  private onBlob(now: i64, r: HttpResult): void {
    const sink = this.sink;
    if (sink.refused == -ErrorCode.Unsupported) return this.unsupported(now);
    if (!r.ok) return this.failed(now, this.ctx.describe(r));
    const s = r.status;
    if (s == 401) return this.challenged(now, r, PullStep.Blob);
    if (s == 301 || s == 302 || s == 303 || s == 307 || s == 308) return this.redirected(now, r);
    if (s != 200) return this.failed(now, "the registry answered the blob request with " + this.ctx.describe(r));
    if (sink.refused == -ErrorCode.HostCallInvalid) {
      return this.refuse(now, this.digest, "BrainTooLarge: the host's brain slot cannot take " + this.manifest.layerSize.toString() + " bytes");
    }
    if (sink.refused != 0) return this.failed(now, "the host could not store the brain: " + errorText(<ErrorCode>-sink.refused));
    if (!sink.complete) {
      return this.failed(now, "the layer is " + sink.received.toString() + " bytes, the manifest says " + this.manifest.layerSize.toString());
    }
    const pod = this.pod!;
    const took = now - this.startedAt;
    this.events.podEvent(now, pod, pod.containers[0], false, false, "Pulled", "Successfully pulled image \"" + this.image + "\" in " +
      seconds(took) + ". Image size: " + sink.written.toString() + " bytes.");
    logInfo("brain pod " + pod.key + ": pulled " + this.image + " (" + sink.written.toString() + " bytes in " + seconds(took) + "); asking the host to verify it");
    // The host swaps right after a commit: what the pod was told so far (Pulled) goes out first.
    this.step = PullStep.Flush;
    this.task.idle();
    this.retryAt = now + FLUSH_WAIT_MS;
    this.flushed(now);
  }

  /** Commits once the event queue is empty, or FLUSH_WAIT_MS after the pull at the latest. */
  private flushed(now: i64): void {
    if (this.step != PullStep.Flush || (this.events.pending > 0 && now < this.retryAt)) return;
    this.retryAt = -1;
    this.commit(now);
  }

  /** A 401: a bearer token from the realm, or the Basic credentials themselves; a second 401 is final for this attempt. */
  private challenged(now: i64, r: HttpResult, again: PullStep): void {
    const reg = this.ref.registry;
    if (this.authAnswered) {
      return this.failed(now, "the registry " + reg + " refused the credentials" + (this.basic.length > 0 ? " of the pod's imagePullSecrets" : "") +
        " (HTTP 401)");
    }
    const c = parseChallenge(r.challenge);
    if (c.scheme == "basic") {
      if (this.basic.length == 0) return this.failed(now, "the registry " + reg + " wants credentials and the pod has no imagePullSecrets for it");
      this.auth = this.basic;
      this.authAnswered = true;
      this.go(now, again);
      return;
    }
    if (c.scheme != "bearer" || c.realm.length == 0) return this.failed(now, "the registry " + reg + " answered 401 without a challenge it is possible to answer");
    const u = parseHttpsUrl(c.realm);
    if (u.error.length > 0) return this.failed(now, "the registry's token realm " + oneLine(c.realm) + " is " + u.error);
    let q = u.target;
    q += q.includes("?") ? "&" : "?";
    q += "service=" + queryEscape(c.service) + "&scope=" + queryEscape(c.scope.length > 0 ? c.scope : "repository:" + this.ref.repository + ":pull");
    this.tokenTarget = q;
    this.afterToken = again;
    this.stream.retarget(u.host, u.port, u.host);
    this.go(now, PullStep.Token);
  }

  private onToken(now: i64, r: HttpResult): void {
    if (!r.ok) return this.failed(now, "the token server: " + this.ctx.describe(r));
    if (r.status != 200) {
      const hint = r.status == 401 || r.status == 403 ? (this.basic.length > 0 ? " (check the pod's imagePullSecrets)" : " (the pod has no imagePullSecrets)") : "";
      return this.failed(now, "the token server answered " + this.ctx.describe(r) + hint);
    }
    const t = readToken(r.body);
    if (t.length == 0) return this.failed(now, "the token server's answer carries no usable token");
    this.auth = "Bearer " + t;
    this.authAnswered = true;
    this.stream.retarget(this.ref.host, this.ref.port, this.ref.host);
    this.go(now, this.afterToken);
  }

  /** A blob store's redirect: followed; credentials stay with the registry they were meant for. */
  private redirected(now: i64, r: HttpResult): void {
    if (++this.redirects > MAX_REDIRECTS) return this.failed(now, "more than " + MAX_REDIRECTS.toString() + " redirects for the layer");
    const loc = r.location.trim();
    if (loc.startsWith("/")) {
      this.target = loc;
    } else {
      const u = parseHttpsUrl(loc);
      if (u.error.length > 0) return this.failed(now, "the layer's redirect " + oneLine(loc.length > 120 ? loc.substring(0, 120) : loc) + " is " + u.error);
      if (u.host != this.stream.endpoint.host || u.port != this.stream.endpoint.port) this.auth = "";
      this.stream.retarget(u.host, u.port, u.host);
      this.target = u.target;
    }
    this.go(now, PullStep.Blob);
  }

  /** OP_BRAIN_COMMIT: the commit line and the manifest as fetched. */
  private commit(now: i64): void {
    const m = this.manifest;
    const b = new ByteBuffer(512, MANIFEST_MAX_BYTES + 2048);
    const w = new JsonWriter(b);
    w.beginObject().field("pod", this.pod!.uid).field("image", this.image).field("digest", this.digest).field("layer", m.layerDigest);
    w.fieldInt("size", m.layerSize).fieldInt("abi", BRAIN_ABI).field("version", m.version).field("signature", m.signature).field("keyId", m.keyId);
    w.endObject();
    b.byte(0x0a);
    b.append(this.manifestBytes);
    if (b.overflow) return this.failed(now, "the commit does not fit its buffer");
    this.task.idle();
    this.step = PullStep.Commit;
    const req = this.ctx.hostCalls.call(HostOp.BrainCommit, 0, b.ptr, b.length);
    if (req > 0) {
      this.req = req;
      return;
    }
    if (-req == ErrorCode.Unsupported) this.unsupported(now);
    else this.failed(now, "the host refused the commit: " + errorText(<ErrorCode>-req));
  }

  // ------------------------------------------------------------------ what the pod shows

  /** The brain this instance is: the pod's container runs. */
  private runningBrain(now: i64, digest: string): void {
    const pod = this.pod!;
    const wall = this.ctx.clock.wallMs(now);
    this.step = PullStep.Settled;
    this.task.idle();
    pod.reason = "";
    pod.message = "";
    pod.imageRef = this.ref.imageId(digest);
    if (pod.stage != Stage.Running) {
      pod.stage = Stage.Running;
      pod.startedMs = wall;
      pod.lastStartedMs = wall;
      pod.readyMs = wall;
      pod.readyChangedMs = wall;
    }
    if (this.committedPod == pod.uid && pod.restartCount < this.committedRestarts) pod.restartCount = this.committedRestarts;
    if (!this.announced) {
      this.announced = true;
      const c = pod.containers[0];
      this.events.podEvent(now, pod, c, false, false, "Created", "Created container: " + c);
      this.events.podEvent(now, pod, c, false, false, "Started", "Started container " + c);
      logInfo("brain pod " + pod.key + ": this node runs its brain " + digest);
    }
    this.changed(now);
  }

  /** The host (or the manifest) refused `digest`: not pulled again while the pod names it. */
  private refuse(now: i64, digest: string, words: string): void {
    if (this.refused.length >= REFUSED_MAX) {
      this.refused.shift();
      this.refusedWords.shift();
    }
    this.refused.push(digest);
    this.refusedWords.push(words);
    const pod = this.pod!;
    this.showRefusal(words);
    this.events.podEvent(now, pod, pod.containers[0], false, true, pod.reason, pod.message);
    logWarn("brain pod " + pod.key + ": " + this.image + " (" + digest + ") refused: " + words);
    this.changed(now);
  }

  /** `<Reason>: <message>` on the pod. */
  private showRefusal(words: string): void {
    const colon = words.indexOf(": ");
    const reason = colon > 0 && isReason(words.substring(0, colon)) ? words.substring(0, colon) : "BrainRefused";
    this.settle(reason, colon > 0 ? words.substring(colon + 2) : words);
  }

  /** An attempt failed: ErrImagePull now, ImagePullBackOff while waiting for the next. */
  private failed(now: i64, why: string): void {
    const pod = this.pod!;
    const wait = this.backoff.next(this.ctx.rng);
    const first = this.backoff.failures == 1;
    this.events.podEvent(now, pod, pod.containers[0], false, true, "Failed", "Failed to pull image \"" + this.image + "\": " + why);
    if (!first) this.events.podEvent(now, pod, pod.containers[0], false, false, "BackOff", "Back-off pulling image \"" + this.image + "\"");
    this.waiting(now, first ? "ErrImagePull" : "ImagePullBackOff", (first ? "Failed to pull image \"" : "Back-off pulling image \"") + this.image + "\": " + why);
    logWarn("brain pod " + pod.key + ": pulling " + this.image + " failed: " + why + "; again in " + seconds(wait));
    // The next attempt starts over, secrets first (they may have been fixed meanwhile).
    this.step = PullStep.Off;
    this.task.idle();
    this.retryAt = now + wait;
  }

  /** The monotonic time the next attempt is due (-1: none). */
  nextStep(): i64 {
    return this.retryAt;
  }

  /** Starts a due attempt; true when it did. */
  tick(now: i64): bool {
    if (this.retryAt < 0 || now < this.retryAt || this.pod === null) return false;
    if (this.step == PullStep.Flush) {
      this.flushed(now);
      return true;
    }
    this.retryAt = -1;
    this.pull(now);
    return true;
  }

  private unsupported(now: i64): void {
    this.step = PullStep.Unsupported;
    if (this.pod === null) return;
    this.settle("BrainSwapUnsupported", "this node's host cannot store or swap brains: it keeps running its own brain (" +
      this.ctx.identity.kubeletVersion + ")");
    this.events.podEvent(now, this.pod!, this.pod!.containers[0], false, true, "BrainSwapUnsupported", this.pod!.message);
    this.changed(now);
    this.step = PullStep.Unsupported;
  }

  /** The container waits with `reason`; nothing more is due until the pod names another image. */
  private settle(reason: string, message: string): void {
    this.step = PullStep.Settled;
    this.task.idle();
    const pod = this.pod!;
    pod.reason = reason;
    pod.message = message;
    pod.dirty = true;
  }

  /** The container waits with `reason` while the pull goes on. */
  private waiting(now: i64, reason: string, message: string): void {
    const pod = this.pod!;
    if (pod.reason == reason && pod.message == message) return;
    pod.reason = reason;
    pod.message = message;
    this.changed(now);
  }

  private changed(now: i64): void {
    this.pod!.dirty = true;
    this.pods.changed(now);
  }

  /** The next request is `step`'s, now. */
  private go(now: i64, step: PullStep): void {
    this.step = step;
    this.lane = step == PullStep.Secret ? 0 : REGISTRY_LANE;
    this.task.now(now);
  }

  /** Forgets the followed pod (deleted, or replaced by another). A commit in flight still completes in the host. */
  private stop(): void {
    this.pod = null;
    this.retryAt = -1;
    this.image = "";
    this.task.idle();
    if (this.step != PullStep.Unsupported && this.step != PullStep.Swapping && this.step != PullStep.Commit) this.step = PullStep.Off;
    if (this.stream.current !== null) this.stream.reset();
  }

  /** OP_BRAIN_STATUS lines: running=, failed=, reason=, message=. */
  private readStatus(p: usize, n: i32): void {
    const text = String.UTF8.decodeUnsafe(p, <usize>min(n, 2048));
    const lines = text.split("\n");
    let reason = "";
    let message = "";
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      if (l.startsWith("running=") && isSha256(l.substring(8))) this.running = l.substring(8);
      else if (l.startsWith("failed=") && isSha256(l.substring(7))) this.failedDigest = l.substring(7);
      else if (l.startsWith("reason=")) reason = oneLine(l.substring(7));
      else if (l.startsWith("message=")) message = oneLine(l.substring(8));
    }
    this.failedWords = (reason.length > 0 ? reason : "BrainFailed") + (message.length > 0 ? ": " + message : "");
    if (this.running.length > 0) logInfo("this instance is brain " + this.running);
    if (this.failedDigest.length > 0) logWarn("brain " + this.failedDigest + " was rolled back: " + this.failedWords);
  }
}

/** A reason word as the host writes it: letters only, CamelCase, at most 64. */
function isReason(s: string): bool {
  if (s.length == 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))) return false;
  }
  return true;
}
