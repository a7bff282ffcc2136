/**
 * The pod source: learns the pods bound to this node on a stream lane of its own, the way the kubelet's
 * API server config source does (pkg/kubelet/config/apiserver.go, a client-go reflector):
 *
 *   GET /api/v1/pods?fieldSelector=spec.nodeName=<node>, as a WatchList, or a list then a watch
 *
 * The reflector (node/reflector.ts) runs the list and the watch: modes, resume, relist, progress. This
 * file says which pod fields are read (pods/draft.ts) and what an object means: a pod bound here is
 * applied to the manager, a DELETED one removed, and a relist forgets pods that were deleted while the
 * node was not watching.
 */
import { ByteBuffer } from "../util/bytes";
import { ValueKind } from "../json/scanner";
import { Context } from "../node/context";
import { Event, Reflector } from "../node/reflector";
import { Work } from "../node/work";
import { POD_FIELDS, PodDraft } from "./draft";
import { PodManager } from "./manager";

export class PodSource extends Reflector {
  readonly draft: PodDraft = new PodDraft();

  constructor(ctx: Context, private manager: PodManager) {
    // The agent's lane 1 is this stream.
    super(ctx, "pod", POD_FIELDS, Work.PodList, Work.PodWatch, 1);
  }

  /** Starts (or restarts) from a full initial state. */
  begin(now: i64): void {
    this.draft.cfg = this.ctx.cfg;
    this.start(now);
  }

  selection(): string {
    return "/api/v1/pods?fieldSelector=spec.nodeName%3D" + this.ctx.cfg.nodeName;
  }

  scanValue(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    this.draft.value(field, kind, v, key);
  }
  scanBegin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    this.draft.begin(field, kind);
  }
  scanEnd(field: i32): void {
    this.draft.end(field);
  }
  clear(): void {
    this.draft.reset();
  }
  objectVersion(): string {
    return this.draft.resourceVersion;
  }
  initialEventsEnd(): bool {
    return this.draft.initialEventsEnd;
  }
  relisting(): void {
    this.manager.beginRelist();
  }
  relisted(now: i64): void {
    this.manager.endRelist(now);
  }

  apply(now: i64, event: Event): void {
    const d = this.draft;
    if (d.nodeName.length > 0 && d.nodeName != this.ctx.cfg.nodeName) return;
    if (event == Event.Deleted) this.manager.removed(now, d.uid);
    else this.manager.apply(now, d);
  }
}
