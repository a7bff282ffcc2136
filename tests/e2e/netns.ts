/**
 * A node's own network namespace, for the tests that need the API server to dial a node at an address
 * that is not loopback: kube-apiserver's nodes/proxy refuses a node whose address is not global unicast
 * ("address not allowed"), and every other test node lives on 127.0.x.y.
 *
 *   root namespace                                 namespace pk-<pid>-<rand>
 *   veth pk<X>r 10.213.X.1/30  <------------------> veth pk<X>n 10.213.X.2/30 (the node's InternalIP)
 *   127.0.0.1:<api port> (kube-apiserver)           lo up; relay on 127.0.0.1:<api port>
 *        ^ relay (this process)                          | each connection
 *        +----------- a Unix domain socket in a temporary directory (filesystem sockets cross namespaces)
 *
 * The API server (root namespace) reaches the node's kubelet port over the veth pair; the node reaches the
 * API server without leaving loopback, so its kubeconfig keeps https://127.0.0.1:<api port> and the
 * server certificate verifies as everywhere else. X is chosen at random among the free ones: the veth
 * pair is named after it, and creating a link whose name exists fails, so two runs never share an X.
 *
 * Needs root (`ip netns`); anything else is a loud error, never a skip. Everything made is undone by
 * close(), by a process exit hook if close() never ran, and, for a run that was killed, by the next run
 * (namespaces named after a process that no longer exists).
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PREFIX = "pk-";

export interface NodeNetns {
  /** The namespace's name (`ip netns exec <name> …`). */
  readonly name: string;
  /** The node's address inside the namespace (10.213.X.2). */
  readonly ip: string;
  /** The root namespace's end of the veth pair (10.213.X.1). */
  readonly peerIp: string;
  /** Starts `command args` inside the namespace; the process is stopped by close(). */
  spawn(command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Stops what runs inside, removes the namespace, the veth pair, the relays and the socket directory. */
  close(): Promise<void>;
}

function ip(args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Refuses clearly when `ip netns` cannot work here. */
function requireRoot(): void {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    throw new Error("a node in its own network namespace needs root (`ip netns add`, veth pairs): run this test as root, as CI does");
  }
  try {
    ip(["netns", "list"]);
  } catch (e) {
    throw new Error(`\`ip netns\` does not work here (${(e as Error).message.trim()}): install iproute2`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The processes inside a namespace. */
function pidsIn(name: string): number[] {
  try {
    return ip(["netns", "pids", name]).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Kills what runs in the namespace and deletes it (its veth end goes with it, and so the pair). Synchronous,
 * so the exit hook can use it.
 */
function removeSync(name: string, rootLink: string): void {
  for (const pid of pidsIn(name)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  try {
    ip(["netns", "delete", name]);
  } catch {
    // not there
  }
  try {
    ip(["link", "delete", rootLink]);
  } catch {
    // went with the namespace
  }
}

/** Namespaces left by a run that was killed: named after a process that no longer exists. */
function sweepStale(): void {
  let list: string[];
  try {
    list = ip(["netns", "list"]).split("\n").map((l) => l.split(" ")[0]).filter(Boolean);
  } catch {
    return;
  }
  for (const ns of list) {
    const m = /^pk-(\d+)-[a-z0-9]+-x(\d+)$/.exec(ns);
    if (m && !alive(Number(m[1]))) removeSync(ns, `pk${m[2]}r`);
  }
}

function sh(args: string[], what: string): void {
  try {
    ip(args);
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${what}: ip ${args.join(" ")}: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** The relay inside the namespace: 127.0.0.1:PORT -> the Unix socket; exits when its parent goes away. */
const INNER_RELAY = `
const net = require("node:net");
const [port, path] = process.argv.slice(1);
const server = net.createServer((c) => {
  const u = net.connect(path);
  c.pipe(u).pipe(c);
  const end = () => { c.destroy(); u.destroy(); };
  c.on("error", end); u.on("error", end); c.on("close", end); u.on("close", end);
});
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("listening\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/**
 * Makes a namespace for one node, with the API server at 127.0.0.1:`apiPort` relayed into it.
 */
export async function createNodeNetns(apiPort: number): Promise<NodeNetns> {
  requireRoot();
  sweepStale();
  const used = ip(["-4", "-o", "addr"]) + ip(["-4", "route"]);
  const candidates = Array.from({ length: 256 }, (_, x) => x).filter((x) => !used.includes(`10.213.${x}.`));
  if (candidates.length === 0) throw new Error("no free 10.213.X.0/30 for a node namespace");
  // Random order; creating the pair claims X (the link names are unique).
  candidates.sort(() => Math.random() - 0.5);
  let x = -1;
  for (const c of candidates.slice(0, 16)) {
    try {
      ip(["link", "add", `pk${c}r`, "type", "veth", "peer", "name", `pk${c}n`]);
      x = c;
      break;
    } catch {
      // taken meanwhile
    }
  }
  if (x < 0) throw new Error("could not create a veth pair pk<X>r/pk<X>n for any free X");
  const rootLink = `pk${x}r`;
  const name = `${PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}-x${x}`;
  const peerIp = `10.213.${x}.1`;
  const nodeIp = `10.213.${x}.2`;
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), "pk-netns-"));
  const socketPath = join(dir, "api.sock");
  let outer: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  let closed = false;
  const onExit = () => {
    for (const c of children) c.kill("SIGKILL");
    removeSync(name, rootLink);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);

  const close = async () => {
    if (closed) return;
    closed = true;
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once("exit", r));
        c.kill("SIGTERM");
        const t = setTimeout(() => c.kill("SIGKILL"), 5_000);
        await gone;
        clearTimeout(t);
      }
    }
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => (outer ? outer.close(() => r()) : r()));
    removeSync(name, rootLink);
    rmSync(dir, { recursive: true, force: true });
    process.off("exit", onExit);
  };

  try {
    sh(["netns", "add", name], "the namespace");
    sh(["link", "set", `pk${x}n`, "netns", name], "the namespace's veth end");
    sh(["addr", "add", `${peerIp}/30`, "dev", rootLink], "the root end's address");
    sh(["link", "set", rootLink, "up"], "the root end");
    sh(["-n", name, "addr", "add", `${nodeIp}/30`, "dev", `pk${x}n`], "the node's address");
    sh(["-n", name, "link", "set", `pk${x}n`, "up"], "the namespace's end");
    sh(["-n", name, "link", "set", "lo", "up"], "lo in the namespace");

    // The root relay: each connection on the Unix socket to the real API server.
    outer = net.createServer((u) => {
      const c = net.connect(apiPort, "127.0.0.1");
      sockets.add(u).add(c);
      u.pipe(c).pipe(u);
      const end = () => {
        u.destroy();
        c.destroy();
        sockets.delete(u);
        sockets.delete(c);
      };
      for (const s of [u, c]) {
        s.on("error", end);
        s.on("close", end);
      }
    });
    await new Promise<void>((resolve, reject) => {
      outer!.once("error", reject);
      outer!.listen(socketPath, () => resolve());
    });

    const spawnIn = (command: string, args: string[], options: SpawnOptions = {}): ChildProcess => {
      if (closed) throw new Error(`namespace ${name} is closed`);
      const child = spawn("ip", ["netns", "exec", name, command, ...args], { stdio: ["pipe", "pipe", "pipe"], ...options });
      children.push(child);
      return child;
    };

    // The relay inside: the namespace's own 127.0.0.1:<api port>.
    const inner = spawnIn(process.execPath, ["-e", INNER_RELAY, String(apiPort), socketPath]);
    await new Promise<void>((resolve, reject) => {
      let err = "";
      inner.stderr!.on("data", (d) => (err += d));
      inner.stdout!.once("data", () => resolve());
      inner.once("exit", (code) => reject(new Error(`the relay inside ${name} exited (${code}): ${err.trim()}`)));
    });

    return { name, ip: nodeIp, peerIp, spawn: spawnIn, close };
  } catch (e) {
    await close();
    throw e;
  }
}
