// host-sim/src/run.ts
// What the `run` and `rack` commands do once their flags are parsed: load credentials and the scenario,
// refuse an unverifiable API server, start the node(s), show the LEDs, serve the control socket, run the
// timeline, and on Ctrl-C (or --duration, or `stop` on the control socket) shut down through the core.
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Phase } from './abi.js';
import { ControlServer, Controllable, serveControl } from './control.js';
import { CredentialOptions, Credentials, bootstrapUser, loadNodeCredentials, preflight } from './credentials.js';
import { CredentialsError, UsageError } from './errors.js';
import { LedTerminal } from './led/terminal.js';
import type { Level, Logger } from './logger.js';
import { SimNode, StartError, startNode, systemTimers } from './node.js';
import { Rack, startRack } from './rack.js';
import { Scenario, TimelineStep, scheduleTimeline } from './scenario.js';


/** Settings shared by `run` and `rack`. */
export interface CommonRunOptions {
  logger: Logger;
  logLevel: Level;
  credentialOptions: CredentialOptions;
  labels?: Record<string, string>;
  heap?: string;
  link?: string;
  scenario?: Scenario;
  at: TimelineStep[];
  coreConfig?: Record<string, unknown>;
  wasmPath?: string;
  cleanup: boolean;
  controlSocket?: string;
  /** Stop by itself after this many seconds. */
  durationSeconds?: number;
  led: 'auto' | 'tty' | 'plain' | 'off';
  /** Bound on the shutdown wait, ms. */
  stopTimeoutMs: number;
  /** The kubelet port each node serves on its own address (0: none). */
  kubeletPort?: number;
  /** --client-ca-file: the CA bundle kubelet-port client certificates are verified against (default the kubeconfig's CA). */
  clientCa?: Buffer;
  /** --cert-dir: where the host keeps key slots (a rack: one subdirectory per node). */
  certDir?: string;
  /** --brain-public-key: the keys brains must be signed with. */
  brainPublicKeys?: import('node:crypto').KeyObject[];
  /** --state-dir: where brains are kept (a rack: one subdirectory per node). */
  stateDir?: string;
  /** --registry-ca: a CA registry connections trust besides the system CAs. */
  registryCa?: Buffer;
}

export interface RunOptions extends CommonRunOptions {
  name?: string;
  nodeIp?: string;
}

export interface RackRunOptions extends CommonRunOptions {
  prefix: string;
  count: number;
  start: number;
  kubeconfigDir?: string;
  firstIp?: string;
  rampPerSecond?: number;
}

/** `picokubelet-sim run`: one node until stopped. Returns the exit code. */
export async function runOne(o: RunOptions): Promise<number> {
  const creds = credentials(o.credentialOptions);
  const name = o.name ?? nodeNameFromCertificate(creds);
  if (!name) {
    throw new UsageError(creds.auth === 'bootstrap-token'
      ? '--name is required with --bootstrap-kubeconfig (the node asks for a certificate for system:node:<name>)'
      : '--name is required (or a kubeconfig whose client certificate is for system:node:<name>)');
  }
  const certDir = nodeCertDir(o, name);
  if (creds.auth === 'bootstrap-token') o.logger.info(`TLS bootstrap with ${creds.source}; the node's key and certificate are kept in ${certDir}`);
  const warning = await refuseUnverifiable(creds, o.logger);
  const term = terminal(o);
  let node: SimNode;
  try {
    node = await startNode({
      name, credentials: creds, nodeIp: o.nodeIp, labels: o.labels, heap: o.heap ?? o.scenario?.heap,
      link: o.link ?? o.scenario?.link, coreConfig: o.coreConfig, logLevel: o.logLevel, logger: o.logger, wasmPath: o.wasmPath,
      kubeletPort: o.kubeletPort, clientCa: o.clientCa, certDir, registryCa: o.registryCa,
      brain: { publicKeys: o.brainPublicKeys, stateDir: o.stateDir, preferProven: o.wasmPath === undefined },
    });
  } catch (err) {
    term?.close();
    throw startFailure(err);
  }
  term?.add(node);
  if (warning) o.logger.warn(warning);
  const target: Controllable = {
    nodes: () => [node],
    stopNodes: (nodes, cleanup) => Promise.all(nodes.map((n) => n.stop({ cleanup, timeoutMs: o.stopTimeoutMs }))),
  };
  return supervise(o, target, term);
}

/** `picokubelet-sim rack`: N nodes in this process until stopped. Returns the exit code. */
export async function runRack(o: RackRunOptions): Promise<number> {
  const names = Array.from({ length: o.count }, (_, i) => `${o.prefix}${o.start + i}`);
  const creds = new Map<string, Credentials>();
  if (o.kubeconfigDir) {
    for (const n of names) creds.set(n, credentials({ ...o.credentialOptions, kubeconfig: path.join(o.kubeconfigDir, `${n}.kubeconfig`) }));
  } else {
    const shared = credentials(o.credentialOptions);
    for (const n of names) creds.set(n, shared);
  }
  const warning = await refuseUnverifiable(creds.get(names[0])!, o.logger);
  if (warning) o.logger.warn(warning);
  const bootstrapping = [...creds.values()].filter((c) => c.auth === 'bootstrap-token').length;
  if (bootstrapping > 0) {
    o.logger.info(`TLS bootstrap for ${bootstrapping} of ${o.count} node(s); keys and certificates kept in ${o.certDir ?? defaultCertBase()}/<name>`);
  }
  const term = terminal(o);
  const { rack, started } = startRack({
    prefix: o.prefix, count: o.count, start: o.start, firstIp: o.firstIp, rampPerSecond: o.rampPerSecond,
    credentialsFor: (n) => creds.get(n)!,
    labels: o.labels, heap: o.heap ?? o.scenario?.heap, link: o.link ?? o.scenario?.link, coreConfig: o.coreConfig,
    kubeletPort: o.kubeletPort, clientCa: o.clientCa, certDir: o.certDir ?? (o.credentialOptions.bootstrapKubeconfig !== undefined ? defaultCertBase() : undefined),
    logLevel: o.logLevel, logger: o.logger, wasmPath: o.wasmPath, keepLogs: 0, registryCa: o.registryCa,
    brain: { publicKeys: o.brainPublicKeys, stateDir: o.stateDir, preferProven: o.wasmPath === undefined },
    onNode: (n) => term?.add(n),
  });
  const failed = started.then(
    () => {
      o.logger.info(`rack: all ${o.count} nodes started`);
      return new Promise<Error>(() => {});
    },
    (err: Error) => startFailure(err),
  );
  const target: Controllable = {
    nodes: () => rack.nodes(),
    stopNodes: (nodes, cleanup) => Promise.all(nodes.map((n) => n.stop({ cleanup, timeoutMs: o.stopTimeoutMs }))),
  };
  return supervise(o, target, term, rack, failed);
}

/** Runs until Ctrl-C, --duration, or every node stopped; then shuts everything down. */
async function supervise(
  o: CommonRunOptions,
  target: Controllable,
  term: LedTerminal | null,
  rack?: Rack,
  failed?: Promise<Error>,
): Promise<number> {
  const timers = systemTimers();
  let control: ControlServer | null = null;
  if (o.controlSocket) {
    control = await serveControl(o.controlSocket, target, (m) => o.logger.warn(m));
    o.logger.info(`control socket listening on ${o.controlSocket}`);
  }
  const steps = [...(o.scenario?.timeline ?? []), ...o.at];
  const cancelTimeline = scheduleTimeline(target, steps, timers, timers.now(), (ok, text) => (ok ? o.logger.info(text) : o.logger.warn(text)));

  let signals = 0;
  let failure: Error | null = null;
  let poll: NodeJS.Timeout | undefined;
  const reason = await new Promise<string>((resolve) => {
    void failed?.then((err) => {
      failure = err;
      resolve('a node failed to start');
    });
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        o.logger.info(`${sig}: shutting down${o.cleanup ? ' (cleanup: deleting the Lease and Node)' : ''}; press Ctrl-C again to quit at once`);
        resolve(sig);
      } else {
        o.logger.warn(`${sig} again: quitting without waiting`);
        process.exit(130);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (o.durationSeconds !== undefined) setTimeout(() => resolve('duration'), o.durationSeconds * 1000).unref();
    // A `stop` on the control socket, or a panic, may leave no node running. (This interval also keeps
    // the process alive while every node is idle.)
    poll = setInterval(() => {
      const nodes = target.nodes();
      if (nodes.length > 0 && nodes.every((n) => n.stopped) && (!rack || nodes.length === countOf(o))) resolve('stopped');
    }, 250);
  });
  clearInterval(poll);
  cancelTimeline();
  if (rack) await rack.stop({ cleanup: o.cleanup });
  else await target.stopNodes(target.nodes(), o.cleanup);
  term?.close();
  await control?.close();
  const panicked = target.nodes().filter((n) => n.stats().host.panic !== null);
  const notStopped = target.nodes().filter((n) => n.phaseCode !== Phase.STOPPED && n.stats().host.panic === null);
  if (panicked.length > 0) o.logger.error(`${panicked.length} node(s) trapped: ${panicked.map((n) => n.name).join(', ')}`);
  if (notStopped.length > 0) o.logger.warn(`${notStopped.length} node(s) did not reach STOPPED within ${o.stopTimeoutMs} ms`);
  o.logger.info(`stopped (${reason})`);
  if (failure !== null) throw failure;
  return panicked.length > 0 ? 1 : 0;
}

function countOf(o: CommonRunOptions): number {
  return (o as RackRunOptions).count ?? 1;
}

function credentials(opts: CredentialOptions): Credentials {
  let c: Credentials;
  try {
    c = loadNodeCredentials(opts);
  } catch (err) {
    if (err instanceof CredentialsError) throw new UsageError(err.message);
    throw err;
  }
  const bootstrapAs = c.auth === 'token' ? bootstrapUser(c.token) : undefined;
  if (bootstrapAs !== undefined) {
    throw new UsageError(`${c.source}: the token is a bootstrap token (${bootstrapAs}), which may only ask for a certificate, not run a node: ` +
      'give that kubeconfig with --bootstrap-kubeconfig FILE instead');
  }
  return c;
}

/**
 * Where the cert dirs of nodes that bootstrap go when --cert-dir is not given (the kubelet's default is
 * /var/lib/kubelet/pki): $XDG_STATE_HOME/picokubelet/pki, else ~/.local/state/picokubelet/pki; one
 * subdirectory per node name.
 */
export function defaultCertBase(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'picokubelet', 'pki');
}

/** `run`'s cert dir: --cert-dir as given; else, when it may bootstrap, the default one of this name; else none (memory). */
function nodeCertDir(o: RunOptions, name: string): string | undefined {
  if (o.certDir !== undefined) return o.certDir;
  return o.credentialOptions.bootstrapKubeconfig !== undefined ? path.join(defaultCertBase(), name) : undefined;
}

/**
 * An unverifiable server certificate stops us before the core starts. A server that is not reachable
 * does not: the warning is returned, to be logged once the node has started.
 */
async function refuseUnverifiable(creds: Credentials, logger: Logger): Promise<string | undefined> {
  if (creds.tls.insecure) {
    logger.warn(`INSECURE: ${creds.source} sets insecure-skip-tls-verify; the API server ${creds.server} is NOT authenticated`);
    return undefined;
  }
  const p = await preflight(creds);
  if (p.ok) return undefined;
  if (p.unverifiable) {
    throw new UsageError(`refusing to start: the certificate of ${creds.server} cannot be verified for '${creds.serverName}': ${p.reason}`);
  }
  return `API server ${creds.server} not reachable yet (${p.reason}); the core will keep retrying`;
}

/** system:node:<name> from the client certificate's CN, if that is what it is. */
export function nodeNameFromCertificate(creds: Credentials): string | undefined {
  if (!creds.tls.cert) return undefined;
  try {
    const subject = new crypto.X509Certificate(creds.tls.cert).subject;
    const cn = /(?:^|\n)CN=system:node:([^\n]+)/.exec(subject);
    return cn?.[1];
  } catch {
    return undefined;
  }
}

function terminal(o: CommonRunOptions): LedTerminal | null {
  if (o.led === 'off') return null;
  return new LedTerminal(o.logger, { tty: o.led === 'auto' ? undefined : o.led === 'tty' });
}

/** A core that refuses its configuration is a usage problem (bad labels, bad name). */
function startFailure(err: unknown): Error {
  if (err instanceof StartError) return new UsageError(err.message);
  return err as Error;
}
