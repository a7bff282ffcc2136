// host-sim/src/rack.ts
// A rack: N nodes in one process, each its own WebAssembly.Instance of one compiled module, each with its
// own TLS socket, all timers coalesced in one SystemTimers. Nodes start at a bounded rate so a thousand
// TLS handshakes do not land on the API server in the same millisecond.
import path from 'node:path';
import { ipv4ToI32 } from './abi.js';
import type { Controllable } from './control.js';
import type { Credentials } from './credentials.js';
import { NodeOptions, NodeStats, SimNode, startNode, systemTimers } from './node.js';
import { compileCore, resolveWasmPath } from './runtime.js';

export interface RackOptions extends Omit<NodeOptions, 'name' | 'credentials' | 'nodeIp'> {
  /** Node names are `<prefix><index>` (the same names `cluster.mjs kubeconfig-for-node --prefix` mints). */
  prefix: string;
  count: number;
  /** First index (default 0). */
  start?: number;
  /** Credentials of each node (per-node client certificates, or one shared set). */
  credentialsFor: (name: string, index: number) => Credentials;
  /** IP of the first node; the others count up from it (default 127.0.1.1: a loopback address per node, so each listens on its own). */
  firstIp?: string;
  /** Nodes started per second (default 100). */
  rampPerSecond?: number;
  /** Called for each node as it starts (attach listeners here). */
  onNode?: (node: SimNode, index: number) => void;
}

export class Rack implements Controllable {
  private readonly list: SimNode[] = [];
  private stopping = false;

  /** The nodes started so far. */
  nodes(): ReadonlyArray<SimNode> {
    return this.list;
  }

  /** @internal */
  add(node: SimNode): void {
    this.list.push(node);
  }

  /** True once stop() began (no more nodes start). */
  get isStopping(): boolean {
    return this.stopping;
  }

  stats(): NodeStats[] {
    return this.list.map((n) => n.stats());
  }

  async stopNodes(nodes: ReadonlyArray<SimNode>, cleanup: boolean): Promise<NodeStats[]> {
    return Promise.all(nodes.map((n) => n.stop({ cleanup })));
  }

  /** Stops every node through its core (see SimNode.stop). */
  async stop(opts: { cleanup?: boolean } = {}): Promise<NodeStats[]> {
    this.stopping = true;
    return this.stopNodes(this.list, opts.cleanup === true);
  }
}

/** The IPv4 address `offset` after `base`. */
export function ipPlus(base: string, offset: number): string {
  const v = (ipv4ToI32(base) >>> 0) + offset;
  return [24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.');
}

/**
 * Starts the rack. Resolves with the Rack at once; nodes keep starting in the background at
 * `rampPerSecond` (await `started` for all of them).
 */
export function startRack(opts: RackOptions): { rack: Rack; started: Promise<void> } {
  const { prefix, count, start = 0, credentialsFor, firstIp = '127.0.1.1', rampPerSecond = 100, onNode, certDir, ...nodeOpts } = opts;
  const rack = new Rack();
  const module = nodeOpts.module ?? compileCore(resolveWasmPath(nodeOpts.wasmPath));
  const timers = nodeOpts.timers ?? systemTimers();
  const interval = 1000 / Math.max(1, rampPerSecond);
  const t0 = timers.now();
  const started = (async () => {
    for (let i = 0; i < count && !rack.isStopping; i++) {
      const index = start + i;
      const wait = t0 + i * interval - timers.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      if (rack.isStopping) break;
      const name = `${prefix}${index}`;
      const node = await startNode({
        ...nodeOpts, module, timers, name, credentials: credentialsFor(name, index), nodeIp: ipPlus(firstIp, i),
        certDir: certDir === undefined ? undefined : path.join(certDir, name),
        // Each node its own brains: one may be proven while its neighbour rolled back.
        brain: nodeOpts.brain && { ...nodeOpts.brain, stateDir: nodeOpts.brain.stateDir === undefined ? undefined : path.join(nodeOpts.brain.stateDir, name) },
      });
      rack.add(node);
      onNode?.(node, index);
    }
  })();
  return { rack, started };
}
