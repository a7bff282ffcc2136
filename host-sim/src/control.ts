// host-sim/src/control.ts
// The command language shared by the control channel, scenario files, `--at` flags and the programmatic
// API, and the control channel itself: a unix socket speaking one command per line (plain text or JSON)
// and answering one JSON line per command.
//
//   text:  [@node] verb args...             e.g.  @sim-3 link down 10
//   JSON:  {"cmd": "link down 10", "node": "sim-3", "id": 7}
//   reply: {"id": 7, "ok": true, "result": ...}  |  {"id": 7, "ok": false, "error": "..."}
import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import { Phase, nameOf } from './abi.js';
import type { SimNode } from './node.js';

/** One parsed command. */
export interface Command {
  verb: string;
  args: string[];
  /** The node it addresses; undefined means every node. */
  node?: string;
}

/** Help text of the command language (also sent for `help`). */
export const COMMANDS_HELP = [
  'heap <free> [total]          set free (and total) heap bytes; the scenario becomes steady',
  'heap <scenario>              steady | leak[:rate=B/s,floor=B] | sawtooth[:low=B,period=s] (free=,total= too)',
  'link down [seconds]          drop the link (and every connection), for a while or until `link up`',
  'link up                      bring the link back',
  'link <spec>                  ethernet[:ip=A.B.C.D] | wifi[:ip=...,bssid=aa:bb:cc:dd:ee:ff,rssi=-60]',
  'bssid <aa:bb:cc:dd:ee:ff>    roam to another access point (Wi-Fi)',
  'ip <A.B.C.D>                 a new IP address on the current link',
  'rssi <dBm>                   a new signal strength (Wi-Fi)',
  'reset-connection             reset every open TLS connection (CLOSE_IO_ERROR)',
  'stall <seconds>              hold every received byte for a while (responses arrive late)',
  'blackhole <seconds>          connections neither send nor receive for a while; those hit stay dead',
  'stats                        the core\'s stat() values and the host\'s view, as JSON',
  'led                          the LED pattern shown now',
  'wait <PHASE> [seconds]       answer once the phase is PHASE (e.g. RUNNING), or fail after seconds (30)',
  'nodes                        the node names',
  'stop [cleanup]               shut down through the core (cleanup: delete its Lease and Node first)',
  'help                         this text',
].join('\n');

/** Parses a text line or a JSON object into a Command (and the request id, if any). */
export function parseCommand(input: string | Record<string, unknown>): { cmd: Command; id?: unknown } {
  if (typeof input === 'string') {
    const trimmed = input.trim();
    if (trimmed.startsWith('{')) {
      let obj: unknown;
      try {
        obj = JSON.parse(trimmed);
      } catch {
        throw new Error('not valid JSON');
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error('a JSON command must be an object');
      return parseCommand(obj as Record<string, unknown>);
    }
    return { cmd: parseText(trimmed) };
  }
  const { cmd, node, id, args } = input;
  if (typeof cmd !== 'string') throw new Error('a JSON command needs "cmd": "<verb> [args]"');
  const parsed = parseText(cmd);
  if (Array.isArray(args)) parsed.args.push(...args.map(String));
  if (node !== undefined) {
    if (typeof node !== 'string') throw new Error('"node" must be a string');
    parsed.node = node;
  }
  return { cmd: parsed, id };
}

function parseText(line: string): Command {
  const words = line.split(/\s+/).filter(Boolean);
  let node: string | undefined;
  if (words[0]?.startsWith('@')) node = words.shift()!.slice(1);
  const verb = words.shift();
  if (!verb) throw new Error('empty command (try `help`)');
  return { verb: verb.toLowerCase(), args: words, node };
}

/** What commands act on: one node or a rack. */
export interface Controllable {
  nodes(): ReadonlyArray<SimNode>;
  /** Stops the given nodes (all when undefined). */
  stopNodes(nodes: ReadonlyArray<SimNode>, cleanup: boolean): Promise<unknown>;
}

/**
 * Runs a command. The result is the plain value when one node is addressed (or there is only one);
 * otherwise an object keyed by node name.
 */
export async function runCommand(target: Controllable, cmd: Command): Promise<unknown> {
  const all = target.nodes();
  let nodes = all;
  if (cmd.node !== undefined) {
    const n = all.find((x) => x.name === cmd.node);
    if (!n) throw new Error(`no node named '${cmd.node}'`);
    nodes = [n];
  }
  const single = nodes.length === 1;
  const each = async (fn: (n: SimNode) => unknown): Promise<unknown> => {
    if (single) return fn(nodes[0]);
    const out: Record<string, unknown> = {};
    for (const n of nodes) out[n.name] = await fn(n);
    return out;
  };
  const a = cmd.args;
  switch (cmd.verb) {
    case 'help':
      return COMMANDS_HELP;
    case 'nodes':
      return all.map((n) => n.name);
    case 'stats':
      return each((n) => n.stats());
    case 'led':
      return each((n) => {
        const s = n.ledState();
        return { pattern: s.name, code: s.steady, phase: nameOf(Phase, n.phaseCode) };
      });
    case 'heap': {
      need(a, 1, 2, 'heap <free> [total] | heap <scenario>');
      if (/^\d+$/.test(a[0])) {
        const free = Number(a[0]);
        const total = a[1] !== undefined ? int(a[1], 'total') : undefined;
        return each((n) => (n.setHeap(free, total), n.stats().host));
      }
      need(a, 1, 1, 'heap <scenario>');
      return each((n) => (n.setHeapScenario(a[0]), n.stats().host));
    }
    case 'link': {
      need(a, 1, 2, 'link down [seconds] | link up | link <spec>');
      if (a[0] === 'down') {
        const secs = a[1] !== undefined ? seconds(a[1]) : undefined;
        return each((n) => (n.linkDown(secs), n.stats().host.link));
      }
      need(a, 1, 1, 'link up | link <spec>');
      if (a[0] === 'up') return each((n) => (n.linkUpNow(), n.stats().host.link));
      return each((n) => (n.setLink(a[0]), n.stats().host.link));
    }
    case 'bssid':
      need(a, 1, 1, 'bssid <aa:bb:cc:dd:ee:ff>');
      return each((n) => (n.setBssid(a[0]), n.stats().host.link));
    case 'ip':
      need(a, 1, 1, 'ip <A.B.C.D>');
      return each((n) => (n.setLink(`${n.stats().host.link.startsWith('wifi') ? 'wifi' : 'ethernet'}:ip=${a[0]}`), n.stats().host.link));
    case 'rssi':
      need(a, 1, 1, 'rssi <dBm>');
      return each((n) => (n.setLink(`wifi:rssi=${a[0]}`), n.stats().host.link));
    case 'reset-connection':
      need(a, 0, 0, 'reset-connection');
      return each((n) => ({ reset: n.resetConnection() }));
    case 'stall': {
      need(a, 1, 1, 'stall <seconds>');
      const s = seconds(a[0]);
      return each((n) => (n.stall(s), { stalledSeconds: s }));
    }
    case 'blackhole': {
      need(a, 1, 1, 'blackhole <seconds>');
      const s = seconds(a[0]);
      return each((n) => (n.blackhole(s), { blackholeSeconds: s }));
    }
    case 'wait': {
      need(a, 1, 2, 'wait <PHASE> [seconds]');
      const phase = (Phase as Record<string, number>)[a[0].toUpperCase()];
      if (phase === undefined) throw new Error(`unknown phase '${a[0]}' (${Object.keys(Phase).join(', ')})`);
      const ms = (a[1] !== undefined ? seconds(a[1]) : 30) * 1000;
      return each(async (n) => (await n.waitForPhase(phase, ms)).phaseName);
    }
    case 'stop': {
      need(a, 0, 1, 'stop [cleanup]');
      if (a[0] !== undefined && a[0] !== 'cleanup') throw new Error('usage: stop [cleanup]');
      await target.stopNodes(cmd.node !== undefined ? nodes : all, a[0] === 'cleanup');
      return each((n) => n.stats().phaseName);
    }
    default:
      throw new Error(`unknown command '${cmd.verb}' (try \`help\`)`);
  }
}

function need(args: string[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) throw new Error(`usage: ${usage}`);
}

function int(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new Error(`${what} must be a non-negative integer, got '${s}'`);
  return Number(s);
}

function seconds(s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`expected a positive number of seconds, got '${s}'`);
  return n;
}

/** A listening control socket; close() stops it and removes the socket file. */
export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Serves the command language on a unix socket at `socketPath`. */
export async function serveControl(socketPath: string, target: Controllable, onError?: (msg: string) => void): Promise<ControlServer> {
  await removeStaleSocket(socketPath);
  const clients = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    clients.add(sock);
    sock.on('close', () => clients.delete(sock));
    sock.on('error', () => sock.destroy());
    const rl = readline.createInterface({ input: sock, crlfDelay: Infinity });
    // readline re-emits the socket's errors; a client that vanishes must not take the simulator down.
    rl.on('error', () => sock.destroy());
    // One client's commands run one after another, so its replies come back in order.
    let chain = Promise.resolve();
    rl.on('line', (line) => {
      if (line.trim() === '') return;
      chain = chain.then(async () => {
        const reply = await answer(line);
        if (!sock.destroyed) sock.write(JSON.stringify(reply) + '\n');
      });
    });
  });
  const answer = async (line: string): Promise<Record<string, unknown>> => {
    let id: unknown;
    try {
      const parsed = parseCommand(line);
      id = parsed.id;
      const result = await runCommand(target, parsed.cmd);
      return { ...(id !== undefined ? { id } : {}), ok: true, result };
    } catch (err) {
      return { ...(id !== undefined ? { id } : {}), ok: false, error: (err as Error).message };
    }
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => onError?.(`control socket: ${err.message}`));
  fs.chmodSync(socketPath, 0o600);
  return {
    path: socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.destroy();
        server.close(() => resolve());
        fs.rmSync(socketPath, { force: true });
      }),
  };
}

/** A socket file nobody listens on is removed; a live one is an error (another simulator owns it). */
async function removeStaleSocket(p: string): Promise<void> {
  if (!fs.existsSync(p)) return;
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new Error(`control socket ${p} is in use by another process`);
  fs.rmSync(p, { force: true });
}

/** Sends commands to a control socket and returns the replies (the `ctl` subcommand and tests use it). */
export async function sendControl(socketPath: string, lines: string[], timeoutMs = 60_000): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    const replies: Array<Record<string, unknown>> = [];
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(replies);
    };
    const timer = setTimeout(() => finish(new Error(`no reply from ${socketPath} within ${timeoutMs} ms`)), timeoutMs);
    // Both the socket and readline (which re-emits it) report a failed connect: one 'error' handler each,
    // and one rejection in words a user can act on.
    const onError = (err: NodeJS.ErrnoException): void => finish(new Error(controlSocketProblem(socketPath, err)));
    sock.on('error', onError);
    const rl = readline.createInterface({ input: sock, crlfDelay: Infinity });
    rl.on('error', onError);
    rl.on('line', (line) => {
      try {
        replies.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        finish(new Error(`${socketPath} answered something that is not a control reply: ${line.slice(0, 80)}`));
        return;
      }
      if (replies.length === lines.length) finish(null);
    });
    sock.once('close', () => finish(new Error(`${socketPath} closed the connection after ${replies.length} of ${lines.length} replies`)));
    sock.once('connect', () => {
      for (const l of lines) sock.write(l + '\n');
    });
  });
}

/** Why a control socket cannot be reached, and what to do about it. */
function controlSocketProblem(socketPath: string, err: NodeJS.ErrnoException): string {
  const hint = 'start the node with `picokubelet-sim run --control-socket PATH` and pass the same PATH';
  switch (err.code) {
    case 'ENOENT':
      return `no control socket at ${socketPath} (is the node running?): ${hint}`;
    case 'ECONNREFUSED':
      if (fs.existsSync(socketPath) && !fs.statSync(socketPath).isSocket()) return `${socketPath} is not a socket: ${hint}`;
      return `nothing listens on ${socketPath} (a stale socket file: the node is gone): ${hint}`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to use ${socketPath} (it is mode 0600: run ctl as the user that runs the node)`;
    case 'ENOTSOCK':
      return `${socketPath} is not a socket: ${hint}`;
    default:
      return `cannot reach the control socket ${socketPath}: ${err.message}`;
  }
}
