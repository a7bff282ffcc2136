/**
 * The node informer: the node's own Node object, watched on a stream lane of its own, as the kubelet's
 * node informer does (a field selector on metadata.name: the Node authorizer lets a node get, list and
 * watch only its own Node, and only that way).
 *
 *   GET /api/v1/nodes?fieldSelector=metadata.name=<node>, as a WatchList, or a list then a watch
 *
 * The reflector (node/reflector.ts) runs the list and the watch. Each version of the Node is compared
 * with what the core last posted (node/status.ts `reconcile`): a condition whose status someone else
 * changed (the node lifecycle controller's Ready=Unknown, an admin's patch) or removed is pushed again at
 * once, and its lastTransitionTime becomes the time of that change. A Node that is deleted, or absent
 * from the initial state, is re-registered (Signal.NodeGone). Changed labels or taints are logged: both
 * are set at registration only. Only these fields are scanned, so managedFields and images cost nothing.
 */
import { ByteBuffer, bytesEqual } from "../util/bytes";
import { logInfo } from "../util/log";
import { parseRfc3339 } from "../util/time";
import { ValueKind } from "../json/scanner";
import { NodeFacts, FACT_FIELDS } from "./adopt";
import { CONDITION_COUNT, conditionIndex, statusOf } from "./conditions";
import { Context } from "./context";
import { Event, Reflector } from "./reflector";
import { nodeGone, StatusReconciler } from "./status";
import { Work } from "./work";
import { Signal } from "./worker";

const N_RV = 0;
const N_ANNOTATION = 1;
const N_COND = 2;
const N_COND_TYPE = 3;
const N_COND_STATUS = 4;
const N_COND_TIME = 5;
/** NodeFacts' fields follow ours. */
const N_FACTS = 6;

function fields(): string[] {
  const f: string[] = [
    "metadata.resourceVersion", "metadata.annotations.*", "status.conditions[]", "status.conditions[].type",
    "status.conditions[].status", "status.conditions[].lastTransitionTime",
  ];
  for (let i = 0; i < FACT_FIELDS.length; i++) f.push(FACT_FIELDS[i]);
  return f;
}

export class NodeInformer extends Reflector {
  private facts: NodeFacts;
  private rv: string = "";
  private initialEnd: bool = false;
  /** The Node being read: each of our conditions' status (-1: missing) and lastTransitionTime. */
  private server: StaticArray<i32> = new StaticArray<i32>(CONDITION_COUNT);
  private serverMs: StaticArray<i64> = new StaticArray<i64>(CONDITION_COUNT);
  private cType: i32 = -1;
  private cStatus: i32 = -1;
  private cMs: i64 = -1;
  /** The Node was in the initial state being received. */
  private seen: bool = false;
  /** What the last version said, so a change is logged once. */
  private labelsMatch: bool = true;
  private taintsMatch: bool = true;
  private staticMatches: bool = true;
  /** For the agent, taken once (agent.ts settle). */
  private signal: Signal = Signal.None;

  constructor(ctx: Context, private status: StatusReconciler) {
    // The agent's lane 2 is this stream.
    super(ctx, "node", fields(), Work.NodeList, Work.NodeWatch, 2);
    this.facts = new NodeFacts(ctx.cfg, ctx.identity);
    this.clear();
  }

  /** Starts watching (the Node exists): compared against the configuration and identity of this start. */
  begin(now: i64): void {
    this.facts = new NodeFacts(this.ctx.cfg, this.ctx.identity);
    this.start(now);
  }

  /** The signal raised by the last events (NodeGone), once. */
  take(): Signal {
    const s = this.signal;
    this.signal = Signal.None;
    return s;
  }

  selection(): string {
    return "/api/v1/nodes?fieldSelector=metadata.name%3D" + this.ctx.cfg.nodeName;
  }

  scanValue(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    const str = kind == ValueKind.String;
    if (field >= N_FACTS) this.facts.value(field - N_FACTS, kind, v, key);
    else if (!str) return;
    else if (field == N_RV) this.rv = v.toString();
    else if (field == N_ANNOTATION) {
      if (bytesEqual(key, "k8s.io/initial-events-end") && bytesEqual(v, "true")) this.initialEnd = true;
    } else if (field == N_COND_TYPE) this.cType = conditionIndex(v);
    else if (field == N_COND_STATUS) this.cStatus = statusOf(v);
    else if (field == N_COND_TIME) this.cMs = parseRfc3339(v.ptr, v.length);
  }

  scanBegin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    if (field >= N_FACTS) this.facts.begin(field - N_FACTS, kind, key);
    else if (field == N_COND) {
      this.cType = -1;
      this.cStatus = -1;
      this.cMs = -1;
    }
  }

  scanEnd(field: i32): void {
    if (field >= N_FACTS) this.facts.end(field - N_FACTS);
    else if (field == N_COND && this.cType >= 0) {
      this.server[this.cType] = this.cStatus;
      this.serverMs[this.cType] = this.cMs;
    }
  }

  clear(): void {
    this.rv = "";
    this.initialEnd = false;
    for (let i = 0; i < CONDITION_COUNT; i++) {
      this.server[i] = -1;
      this.serverMs[i] = -1;
    }
    this.facts.reset();
  }

  objectVersion(): string {
    return this.rv;
  }

  initialEventsEnd(): bool {
    return this.initialEnd;
  }

  relisting(): void {
    this.seen = false;
  }

  relisted(now: i64): void {
    if (!this.seen) this.lost();
  }

  apply(now: i64, event: Event): void {
    if (event == Event.Deleted) {
      this.lost();
      return;
    }
    this.seen = true;
    const status = this.status;
    // Compared only while status is pushed: before the first push lands there is nothing to compare with.
    if (!status.running) return;
    status.reconcile(now, this.server, this.serverMs);
    const f = this.facts;
    f.conclude(true);
    if (f.labelsMatch != this.labelsMatch) note("labels", (this.labelsMatch = f.labelsMatch), "at registration");
    if (f.taintsMatch != this.taintsMatch) note("taints", (this.taintsMatch = f.taintsMatch), "when the Node is created");
    if (f.staticMatches != this.staticMatches) {
      this.staticMatches = f.staticMatches;
      if (!f.staticMatches) status.restoreStatic(now);
    }
  }

  /** Our Node was deleted (or is not there): register again, once per loss, while running. */
  private lost(): void {
    if (this.status.running && this.signal == Signal.None) this.signal = nodeGone(this.ctx);
  }
}

/** Logs that the Node's labels or taints changed: they are ours only when they are set, so they are not undone. */
function note(what: string, match: bool, when: string): void {
  logInfo("the Node's " + what + (match ? " match the configuration again" : " differ from the configuration; they are set " + when + " only, so they are left as they are"));
}
