// host-sim/src/cli.ts
// The command line: an argument schema per command (node:util parseArgs), --help and --version, and one
// call into run.ts / nvs.ts / control.ts. Bad flags and bad kubeconfigs print one line and give exit 2.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ABI_VERSION } from './abi.js';
import { COMMANDS_HELP, sendControl } from './control.js';
import type { CredentialOptions, Credentials } from './credentials.js';
import { parseHeapSpec } from './body/heap.js';
import { DEFAULT_BSSID, parseLinkSpec } from './body/link.js';
import { CredentialsError, UsageError } from './errors.js';
import { Level, Logger, parseLevel } from './logger.js';
import { ModuleError, repoRoot } from './runtime.js';
import type { CommonRunOptions } from './run.js';
import { Scenario, TimelineStep, loadScenario, parseAtFlag } from './scenario.js';
import { parsePairs } from './util.js';
import { loadBrainPublicKeys } from './brain/verify.js';

// run.js, credentials.js and nvs.js load @kubernetes/client-node (about a second): they are imported only
// by the commands that need them, so --help, --version, flag errors and `ctl` answer at once.

type Flag = { type: 'string' | 'boolean'; multiple?: boolean; short?: string; arg?: string; help: string };
type Schema = Record<string, Flag>;

const GLOBAL: Schema = {
  help: { type: 'boolean', short: 'h', help: 'show help' },
  version: { type: 'boolean', short: 'V', help: 'print the version' },
  'log-level': { type: 'string', arg: 'LEVEL', help: 'error | warn | info (default) | debug; also the core\'s level' },
  'log-format': { type: 'string', arg: 'FORMAT', help: 'text (default) | json; log lines go to stderr' },
};

const CREDENTIALS: Schema = {
  kubeconfig: { type: 'string', arg: 'FILE', help: 'kubeconfig (default: $KUBECONFIG, then ~/.kube/config)' },
  context: { type: 'string', arg: 'NAME', help: 'kubeconfig context (default: current-context)' },
  token: { type: 'string', arg: 'TOKEN', help: 'bearer token instead of the kubeconfig user\'s (visible in ps: prefer --token-file)' },
  'token-file': { type: 'string', arg: 'FILE', help: 'read the bearer token from FILE' },
  ca: { type: 'string', arg: 'FILE', help: 'CA bundle (PEM) instead of the kubeconfig\'s certificate-authority' },
};

/** TLS bootstrap (run, rack, check): the kubelet's flag. */
const BOOTSTRAP: Schema = {
  'bootstrap-kubeconfig': { type: 'string', arg: 'FILE', help: 'kubeconfig with server, CA and a bootstrap token (<id>.<secret>): the node makes its own key and asks the cluster for a system:node:<name> certificate (CSR), kept in --cert-dir; a --kubeconfig that exists and works wins (cluster.mjs bootstrap-token --out FILE; k3s: docs/k3s.md)' },
};

const NODE: Schema = {
  labels: { type: 'string', arg: 'K=V,...', help: 'extra node labels' },
  'heap-scenario': { type: 'string', arg: 'SPEC', help: 'steady | leak[:rate=256,floor=8192] | sawtooth[:low=16384,period=120] (free=,total= too)' },
  link: { type: 'string', arg: 'SPEC', help: 'ethernet (default) | wifi[:bssid=..,rssi=-55] | down; ip= sets the address' },
  scenario: { type: 'string', arg: 'FILE', help: 'scenario file: JSON timeline of {at: seconds, action: command}' },
  at: { type: 'string', multiple: true, arg: 'S:CMD', help: 'run a control command S seconds after start, e.g. \'30:link down 10\' (repeatable)' },
  'core-config': { type: 'string', arg: 'JSON|@FILE', help: 'extra core configuration keys, e.g. \'{"renewIntervalMs":2000}\'' },
  'control-socket': { type: 'string', arg: 'PATH', help: 'serve the control channel on a unix socket (see `ctl`)' },
  cleanup: { type: 'boolean', help: 'on exit, delete the Lease and Node this run registered (shutdown mode 1)' },
  duration: { type: 'string', arg: 'SECONDS', help: 'stop by itself after SECONDS' },
  led: { type: 'string', arg: 'MODE', help: 'auto (default: animated on a TTY, plain lines otherwise) | tty | plain | off' },
  'stop-timeout': { type: 'string', arg: 'SECONDS', help: 'how long a shutdown may take (default 15)' },
  wasm: { type: 'string', arg: 'FILE', help: 'the core (default: $PICOKUBELET_WASM, then build/picokubelet.wasm)' },
  'kubelet-port': { type: 'string', arg: 'PORT', help: 'serve the kubelet port (TLS, /healthz) on the node\'s address (default 10250; 0: off)' },
  'client-ca-file': { type: 'string', arg: 'FILE', help: 'CA bundle (PEM) the kubelet port verifies client certificates against (default: the kubeconfig\'s CA; k3s: its client CA, server/tls/client-ca.crt)' },
  'cert-dir': { type: 'string', arg: 'DIR', help: 'keep the node\'s keys and issued certificates in DIR (kubelet-client-current.pem, kubelet-server-current.pem, mode 0600; a rack: DIR/<name>/); default: memory, with --bootstrap-kubeconfig ${XDG_STATE_HOME:-~/.local/state}/picokubelet/pki/<name>' },
  'brain-public-key': { type: 'string', multiple: true, arg: 'FILE', help: 'trust brains (docs/brain.md) signed by this Ed25519 key: the FILE.pub of `brain-key` (repeatable); none: every brain is refused (BrainUntrusted)' },
  'state-dir': { type: 'string', arg: 'DIR', help: 'keep brains in DIR: brain-next.wasm while pulling, brain-current.wasm/.json once one is proven, run at the next start unless --wasm is given (a rack: DIR/<name>/); default: memory' },
  'registry-ca': { type: 'string', arg: 'FILE', help: 'CA bundle (PEM) registry connections trust besides the system CAs (the local registry: <cluster dir>/pki/ca.crt); always verified' },
};

const COMMANDS: Record<string, { summary: string; usage: string; schema: Schema }> = {
  run: {
    summary: 'run one node',
    usage: 'picokubelet-sim run [--name NAME] [--kubeconfig FILE] [flags]',
    schema: {
      name: { type: 'string', arg: 'NAME', help: 'node name (default: from a system:node:<name> client certificate)' },
      'node-ip': { type: 'string', arg: 'A.B.C.D', help: 'the node\'s address (default 127.0.0.1)' },
      ...NODE, ...CREDENTIALS, ...BOOTSTRAP, ...GLOBAL,
    },
  },
  rack: {
    summary: 'run N nodes in one process',
    usage: 'picokubelet-sim rack --count N [--prefix P] [--kubeconfig-dir DIR | --kubeconfig FILE] [flags]',
    schema: {
      count: { type: 'string', arg: 'N', help: 'how many nodes' },
      prefix: { type: 'string', arg: 'P', help: 'node names are P0, P1, ... (default sim-)' },
      start: { type: 'string', arg: 'I', help: 'first index (default 0)' },
      'kubeconfig-dir': { type: 'string', arg: 'DIR', help: 'per-node credentials: DIR/<name>.kubeconfig (cluster.mjs kubeconfig-for-node --prefix P --count N --out-dir DIR)' },
      'first-ip': { type: 'string', arg: 'A.B.C.D', help: 'address of the first node; the others count up (default 127.0.1.1)' },
      ramp: { type: 'string', arg: 'N', help: 'nodes started per second (default 100)' },
      ...NODE, ...CREDENTIALS, ...BOOTSTRAP, ...GLOBAL,
    },
  },
  'nvs-csv': {
    summary: 'write an ESP-IDF NVS partition CSV (and PEM files) for the firmware; node identities only, never admin credentials',
    usage: 'picokubelet-sim nvs-csv --name NAME --kubeconfig FILE --out-dir DIR [--api-host HOST] [--server-name NAME] [--wifi-ssid S --wifi-psk P]\n' +
      '       picokubelet-sim nvs-csv --count N --prefix P (--kubeconfig-dir KDIR | --dir CLUSTER_DIR) --out-dir DIR [...]   (boards P-1 .. P-N, one identity each)\n' +
      '       picokubelet-sim nvs-csv (--name NAME | --count N --prefix P) --bootstrap-kubeconfig FILE --out-dir DIR [...]   (TLS bootstrap: each board makes its own key)',
    schema: {
      name: { type: 'string', arg: 'NAME', help: 'node name (default: from a system:node:<name> client certificate)' },
      'out-dir': { type: 'string', arg: 'DIR', help: 'where <name>.nvs.csv and the PEM files go' },
      'api-host': { type: 'string', arg: 'HOST', help: 'address the board dials (default: the kubeconfig server\'s host; a loopback one is warned about)' },
      'server-name': { type: 'string', arg: 'NAME', help: 'name the board verifies in the API server\'s certificate (default: tls-server-name, else the API host)' },
      count: { type: 'string', arg: 'N', help: 'a rack: N boards named P-1 .. P-N (needs --prefix, and --kubeconfig-dir or --dir)' },
      prefix: { type: 'string', arg: 'P', help: 'with --count: the name prefix' },
      'kubeconfig-dir': { type: 'string', arg: 'KDIR', help: 'with --count: each board\'s own credentials, KDIR/<name>.kubeconfig' },
      dir: { type: 'string', arg: 'CLUSTER_DIR', help: 'mint each board\'s system:node:<name> certificate with this local control plane (tools/cluster.mjs up --dir)' },
      'allow-token': { type: 'boolean', help: 'write a bearer token (refused by default: whose a token is cannot be checked offline)' },
      'wifi-ssid': { type: 'string', arg: 'SSID', help: 'Wi-Fi network for the fallback link' },
      'wifi-psk': { type: 'string', arg: 'PSK', help: 'its passphrase' },
      'bootstrap-kubeconfig': { type: 'string', arg: 'FILE', help: 'a bootstrap kubeconfig (server, CA, a bootstrap token <id>.<secret>): every board gets its server, CA and the token as bootstrap_token, no certificate; each makes its own key and asks for system:node:<name> (cluster.mjs bootstrap-token --out FILE; k3s: docs/k3s.md "Way 2")' },
      ...CREDENTIALS, ...GLOBAL,
    },
  },
  check: {
    summary: 'check a kubeconfig: is the API server reachable and verifiable, who are we, are we admin',
    usage: 'picokubelet-sim check [--kubeconfig FILE | --bootstrap-kubeconfig FILE] [--timeout SECONDS]',
    schema: {
      timeout: { type: 'string', arg: 'SECONDS', help: 'how long to wait for the API server (default 5)' },
      ...CREDENTIALS, ...BOOTSTRAP, ...GLOBAL,
    },
  },
  push: {
    summary: 'push a core (.wasm) to an OCI registry as a signed wasm artifact (docs/brain.md); prints the digest',
    usage: 'picokubelet-sim push <reference> [--wasm FILE] [--key FILE] [--oras FILE]',
    schema: {
      wasm: { type: 'string', arg: 'FILE', help: 'the core (default: build/picokubelet.wasm)' },
      key: { type: 'string', arg: 'FILE', help: 'Ed25519 private key (PEM, from `brain-key`) to sign it with; without it the brain is unsigned and nodes refuse it' },
      oras: { type: 'string', arg: 'FILE', help: 'the oras CLI (default: $PICOKUBELET_ORAS, the local control plane\'s <cluster dir>/bin/oras, then oras on PATH)' },
      ...GLOBAL,
    },
  },
  'brain-key': {
    summary: 'make an Ed25519 key pair for signing brains: FILE (private, 0600) and FILE.pub (the public key nodes trust)',
    usage: 'picokubelet-sim brain-key --out FILE',
    schema: {
      out: { type: 'string', arg: 'FILE', help: 'where the private key goes (FILE.pub: the public key, base64)' },
      ...GLOBAL,
    },
  },
  ctl: {
    summary: 'send control commands to a running simulator',
    usage: 'picokubelet-sim ctl --control-socket PATH COMMAND [ARGS...] [\\; COMMAND ...]',
    schema: {
      'control-socket': { type: 'string', arg: 'PATH', help: 'the socket given to run/rack --control-socket' },
      timeout: { type: 'string', arg: 'SECONDS', help: 'how long to wait for replies (default 60)' },
      ...GLOBAL,
    },
  },
};

/** The package version. */
export function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Top-level help. */
export function mainHelp(): string {
  const cmds = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(9)} ${v.summary}`).join('\n');
  return `picokubelet-sim ${version()}: runs the picokubelet core (.wasm) as Kubernetes nodes from any machine

usage: picokubelet-sim [global flags] COMMAND [flags]

commands:
${cmds}
  help      show this text (help COMMAND: that command's flags)

global flags (before or after the command):
${flagLines(GLOBAL)}

Exit codes: 0 ok, 1 a node trapped or something failed at run time, 2 bad flags, kubeconfig or configuration.
Docs: host-sim/README.md
`;
}

/** Help of one command. */
export function commandHelp(cmd: string): string {
  const c = COMMANDS[cmd];
  let text = `usage: ${c.usage}\n\n${c.summary}\n\nflags:\n${flagLines(c.schema)}\n`;
  if (cmd === 'ctl' || cmd === 'run' || cmd === 'rack') text += `\ncontrol commands (--at, scenario files, ctl; prefix @NAME to address one node):\n${indent(COMMANDS_HELP)}\n`;
  return text;
}

function flagLines(schema: Schema): string {
  return Object.entries(schema)
    .map(([k, f]) => {
      const left = `${f.short ? `-${f.short}, ` : '    '}--${k}${f.arg ? ` ${f.arg}` : ''}`;
      return `  ${left.padEnd(30)} ${f.help}`;
    })
    .join('\n');
}

function indent(s: string): string {
  return s.split('\n').map((l) => `  ${l}`).join('\n');
}

/** Runs the CLI; resolves with the exit code. Never calls process.exit (except on a second Ctrl-C). */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const err = (s: string): void => void process.stderr.write(`picokubelet-sim: ${s}\n`);
  try {
    const [cmd, ...rest] = hoistGlobalFlags(argv);
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      if (cmd === 'help' && rest[0] && COMMANDS[rest[0]]) out(commandHelp(rest[0]));
      else if (cmd === 'help' && rest[0]) {
        const guess = didYouMean(rest[0], Object.keys(COMMANDS));
        throw new UsageError(`unknown command '${rest[0]}'${guess ? ` (did you mean '${guess}'?)` : ''}; commands: ${Object.keys(COMMANDS).join(', ')}`);
      }
      else out(mainHelp());
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === '--version' || cmd === '-V') {
      out(`picokubelet-sim ${version()} (core ABI ${ABI_VERSION})\n`);
      return 0;
    }
    const spec = COMMANDS[cmd];
    if (!spec) {
      const guess = didYouMean(cmd, Object.keys(COMMANDS));
      throw new UsageError(`unknown command '${cmd}'${guess ? ` (did you mean '${guess}'?)` : ''}; commands: ${Object.keys(COMMANDS).join(', ')}, help (see --help)`);
    }
    const { values, positionals } = parse(cmd, spec.schema, rest, cmd === 'ctl');
    if (values.help) {
      out(commandHelp(cmd));
      return 0;
    }
    if (values.version) {
      out(`picokubelet-sim ${version()} (core ABI ${ABI_VERSION})\n`);
      return 0;
    }
    const logLevel = oneOf(values['log-level'], 'log-level', ['error', 'warn', 'info', 'debug'], 'info') as Level;
    const logFormat = oneOf(values['log-format'], 'log-format', ['text', 'json'], 'text') as 'text' | 'json';
    const logger = new Logger({ level: parseLevel(logLevel), format: logFormat });
    if (cmd === 'ctl') return await ctl(values, positionals, out);
    if (cmd === 'push') return await pushCmd(values, positionals, out);
    if (cmd === 'brain-key') return await brainKeyCmd(values, positionals, out);
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const creds: CredentialOptions = {
      kubeconfig: str(values.kubeconfig), context: str(values.context), token: str(values.token),
      tokenFile: str(values['token-file']), ca: str(values.ca), bootstrapKubeconfig: str(values['bootstrap-kubeconfig']),
    };
    if (cmd === 'nvs-csv') return await nvsCsv(values, creds, out);
    if (cmd === 'check') return await check(values, creds, out);
    const common = commonOptions(values, logger, logLevel, creds);
    if (cmd === 'run') {
      const nodeIp = str(values['node-ip']);
      if (nodeIp !== undefined) checked(() => parseLinkSpec(`ethernet:ip=${nodeIp}`, baseLink()), '--node-ip');
      const name = nodeName(values.name);
      const { runOne } = await import('./run.js');
      return await runOne({ ...common, name, nodeIp });
    }
    const count = integer(values.count, 'count', 1, 100_000);
    if (count === undefined) throw new UsageError('rack needs --count N');
    const firstIp = str(values['first-ip']);
    if (firstIp !== undefined) checked(() => parseLinkSpec(`ethernet:ip=${firstIp}`, baseLink()), '--first-ip');
    const prefix = str(values.prefix) ?? 'sim-';
    if (!/^[a-z0-9]([-a-z0-9.]*)?$/.test(prefix)) throw new UsageError(`--prefix '${prefix}' cannot start a node name (lowercase letters, digits, '-', '.')`);
    const { runRack } = await import('./run.js');
    return await runRack({
      ...common, count, prefix, start: integer(values.start, 'start', 0, 1e9) ?? 0, kubeconfigDir: str(values['kubeconfig-dir']),
      firstIp, rampPerSecond: integer(values.ramp, 'ramp', 1, 100_000),
    });
  } catch (e) {
    if (e instanceof UsageError || e instanceof CredentialsError || (e as Error).name === 'StartError') {
      err((e as Error).message);
      return 2;
    }
    if (e instanceof ModuleError) {
      err(e.message);
      return 1;
    }
    err(`${(e as Error).message}${process.env.PICOKUBELET_DEBUG ? `\n${(e as Error).stack}` : ''}`);
    return 1;
  }
}

type Values = Record<string, string | boolean | string[] | undefined>;

/**
 * Flags of GLOBAL may come before the command (`picokubelet-sim --log-level debug run`): they are moved
 * after it, where the command's parser reads them. Anything else before the command is refused here, so
 * the message names the global flags rather than calling the flag an unknown command.
 */
function hoistGlobalFlags(argv: string[]): string[] {
  const lead: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i].startsWith('-') && !['--help', '-h', '--version', '-V'].includes(argv[i])) {
    const [flag, inline] = splitFlag(argv[i]);
    const f = GLOBAL[flag];
    if (!f || flag === 'help' || flag === 'version') {
      const guess = didYouMean(flag, Object.keys(GLOBAL));
      throw new UsageError(`unknown flag ${argv[i]} before the command${guess ? ` (did you mean --${guess}?)` : ''}; ` +
        `flags allowed there: ${Object.keys(GLOBAL).map((k) => `--${k}`).join(', ')}; the others go after the command (see --help)`);
    }
    lead.push(argv[i]);
    if (f.type === 'string' && inline === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${flag} needs a value (${f.arg ?? 'VALUE'})`);
      lead.push(argv[++i]);
    }
    i++;
  }
  if (lead.length === 0) return argv;
  if (i >= argv.length) throw new UsageError(`${lead.join(' ')}: a command must follow (run, rack, nvs-csv, check, ctl; see --help)`);
  return [argv[i], ...lead, ...argv.slice(i + 1)];
}

/** `--name=x` -> ['name', 'x']; `--name` -> ['name', undefined]; `-h` -> ['h', undefined]. */
function splitFlag(arg: string): [string, string | undefined] {
  const body = arg.replace(/^--?/, '');
  const eq = body.indexOf('=');
  return eq < 0 ? [body, undefined] : [body.slice(0, eq), body.slice(eq + 1)];
}

/** The closest candidate within an edit distance of 2 (or a prefix match), if any. */
export function didYouMean(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 2 ? 1 : distance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** Damerau-Levenshtein (optimal string alignment): a swapped pair (`nmae`) counts as one edit. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

function parse(cmd: string, schema: Schema, args: string[], positionals: boolean): { values: Values; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [k, f] of Object.entries(schema)) {
    options[k] = { type: f.type };
    if (f.multiple) options[k].multiple = true;
    if (f.short) options[k].short = f.short;
  }
  // ctl: everything from the first word that is not a flag on is the control command, which may hold
  // words such as `-70` (rssi) that are not flags.
  let flags = args;
  let tail: string[] = [];
  if (positionals) {
    let i = 0;
    while (i < args.length && args[i].startsWith('-') && args[i] !== '--') {
      const [k, inline] = splitFlag(args[i]);
      const f = schema[k] ?? Object.values(schema).find((x) => x.short === k && !args[i].startsWith('--'));
      i += f?.type === 'string' && inline === undefined ? 2 : 1;
    }
    flags = args.slice(0, i);
    tail = args.slice(args[i] === '--' ? i + 1 : i);
  }
  checkFlags(cmd, schema, flags);
  try {
    const r = parseArgs({ args: flags, options, strict: true, allowPositionals: true });
    if (!positionals && cmd !== 'push' && r.positionals.length > 0) throw new UsageError(`unexpected argument '${r.positionals[0]}' (${cmd} takes flags only; see ${cmd} --help)`);
    return { values: r.values as Values, positionals: [...r.positionals, ...tail] };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // parseArgs' own words, first line only (e.g. a string flag without its value).
    throw new UsageError(`${cmd}: ${(e as Error).message.split('\n')[0].replace(/\. To specify a positional.*$/, '')} (see ${cmd} --help)`);
  }
}

/** Unknown flags: one line naming the flag, a likely intended one, and every valid flag of the command. */
function checkFlags(cmd: string, schema: Schema, args: string[]): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') break;
    if (!a.startsWith('-') || a === '-') continue;
    const [k, inline] = splitFlag(a);
    const long = a.startsWith('--');
    const f = long ? schema[k] : Object.values(schema).find((x) => x.short !== undefined && k.startsWith(x.short));
    if (!f) {
      const guess = long ? didYouMean(k, Object.keys(schema)) : undefined;
      const valid = Object.entries(schema).map(([n, x]) => `--${n}${x.short ? `/-${x.short}` : ''}`).join(' ');
      throw new UsageError(`${cmd}: unknown flag ${long ? `--${k}` : a}${guess ? ` (did you mean --${guess}?)` : ''}; valid flags: ${valid}`);
    }
    if (f.type === 'string' && inline === undefined && (long || k.length === 1)) i++;
  }
}

function commonOptions(values: Values, logger: Logger, logLevel: Level, credentialOptions: CredentialOptions): CommonRunOptions {
  const heap = str(values['heap-scenario']);
  if (heap !== undefined) checked(() => parseHeapSpec(heap), '--heap-scenario');
  const link = str(values.link);
  if (link !== undefined) checked(() => parseLinkSpec(link, baseLink()), '--link');
  let scenario: Scenario | undefined;
  const file = str(values.scenario);
  if (file !== undefined) scenario = checked(() => loadScenario(file), '--scenario');
  if (scenario?.heap !== undefined) checked(() => parseHeapSpec(scenario!.heap!), `${file}: heap`);
  if (scenario?.link !== undefined) checked(() => parseLinkSpec(scenario!.link!, baseLink()), `${file}: link`);
  const at: TimelineStep[] = ((values.at as string[] | undefined) ?? []).map((a) => checked(() => parseAtFlag(a), '--at'));
  const labelsText = str(values.labels);
  const labels = labelsText !== undefined ? checked(() => parsePairs(labelsText, '--labels'), '--labels') : undefined;
  const coreConfigText = str(values['core-config']);
  const durationSeconds = number(values.duration, 'duration');
  const stop = number(values['stop-timeout'], 'stop-timeout') ?? 15;
  const kubeletPort = integer(values['kubelet-port'], 'kubelet-port', 0, 65535) ?? 10250;
  const clientCaFile = str(values['client-ca-file']);
  const clientCa = clientCaFile !== undefined ? readCaFile(clientCaFile, 'client-ca-file') : undefined;
  const registryCaFile = str(values['registry-ca']);
  const registryCa = registryCaFile !== undefined ? readCaFile(registryCaFile, 'registry-ca') : undefined;
  const keyFiles = (values['brain-public-key'] as string[] | undefined) ?? [];
  let brainPublicKeys;
  try {
    brainPublicKeys = loadBrainPublicKeys(keyFiles);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return {
    kubeletPort, clientCa, certDir: str(values['cert-dir']), registryCa, brainPublicKeys, stateDir: str(values['state-dir']),
    logger, logLevel, credentialOptions, labels, heap, link, scenario, at,
    coreConfig: coreConfigText !== undefined ? readCoreConfig(coreConfigText) : undefined,
    wasmPath: str(values.wasm), cleanup: values.cleanup === true, controlSocket: str(values['control-socket']),
    durationSeconds, led: oneOf(values.led, 'led', ['auto', 'tty', 'plain', 'off'], 'auto') as CommonRunOptions['led'],
    stopTimeoutMs: stop * 1000,
  };
}

/** --client-ca-file, --registry-ca: readable, and every PEM certificate in it parses (exit 2 otherwise). */
function readCaFile(file: string, flag: string): Buffer {
  let pem: Buffer;
  try {
    pem = fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`--${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new UsageError(`--${flag} ${file} holds no PEM certificate`);
  for (const b of blocks) {
    try {
      new crypto.X509Certificate(b);
    } catch (err) {
      throw new UsageError(`--${flag} ${file} has a certificate that does not parse: ${(err as Error).message}`);
    }
  }
  return pem;
}

/**
 * `nvs-csv`: one board from a kubeconfig, or a rack minted with the local control plane. Every identity
 * is checked before the first file is written, so a refusal (exit 2) leaves nothing behind.
 */
async function nvsCsv(values: Values, creds: CredentialOptions, out: (s: string) => void): Promise<number> {
  const outDir = str(values['out-dir']);
  if (!outDir) throw new UsageError('nvs-csv needs --out-dir DIR');
  const ssid = str(values['wifi-ssid']);
  const psk = str(values['wifi-psk']);
  if ((ssid === undefined) !== (psk === undefined)) throw new UsageError('--wifi-ssid and --wifi-psk go together');
  const apiHost = str(values['api-host']);
  if (apiHost !== undefined && (apiHost === '' || /[\s/:@]/.test(apiHost) && !net.isIPv6(apiHost))) {
    throw new UsageError(`--api-host '${apiHost}' is not a host name or IP address (no scheme, port or path: the port comes from the kubeconfig)`);
  }
  const serverName = str(values['server-name']);
  if (serverName !== undefined && (serverName === '' || /[\s/:@]/.test(serverName) && !net.isIPv6(serverName))) {
    throw new UsageError(`--server-name '${serverName}' is not a DNS name or IP address`);
  }
  const count = integer(values.count, 'count', 1, 10_000);
  const prefix = str(values.prefix);
  const clusterDir = str(values.dir);
  const kubeconfigDir = str(values['kubeconfig-dir']);
  const single = nodeName(values.name);
  if ((count === undefined) !== (prefix === undefined)) throw new UsageError('--count N and --prefix P go together (boards P-1 .. P-N)');
  if (count !== undefined && single !== undefined) throw new UsageError('give either --name (one board) or --count/--prefix (a rack), not both');
  if (prefix !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(prefix)) {
    throw new UsageError(`--prefix '${prefix}' cannot start a node name P-1 (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)`);
  }
  const names = count !== undefined ? Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`) : undefined;
  const fromKubeconfig = creds.kubeconfig !== undefined || creds.token !== undefined || creds.tokenFile !== undefined;
  const bootstrapKubeconfig = creds.bootstrapKubeconfig;
  if (bootstrapKubeconfig !== undefined) {
    // One bootstrap token for the whole rack is fine: it is no identity, only the right to ask for one.
    if (fromKubeconfig || clusterDir !== undefined || kubeconfigDir !== undefined) {
      throw new UsageError('--bootstrap-kubeconfig gives the boards a bootstrap token instead of an identity: give it without --kubeconfig/--token/--token-file/--dir/--kubeconfig-dir');
    }
    if (!names && single === undefined) throw new UsageError('nvs-csv --bootstrap-kubeconfig needs --name NAME (or --count N --prefix P): the token names no node');
  }
  if (clusterDir !== undefined && fromKubeconfig) throw new UsageError('--dir mints the identities itself: give it without --kubeconfig/--token/--token-file');
  if (kubeconfigDir !== undefined && (fromKubeconfig || clusterDir !== undefined)) {
    throw new UsageError('--kubeconfig-dir holds every board\'s credentials: give it without --kubeconfig/--token/--token-file/--dir');
  }
  if (kubeconfigDir !== undefined && !names) throw new UsageError('--kubeconfig-dir goes with --count N --prefix P (one board: --kubeconfig FILE)');
  if (names && clusterDir === undefined && kubeconfigDir === undefined && bootstrapKubeconfig === undefined) {
    throw new UsageError(`--count ${count}: one kubeconfig cannot be ${count} nodes (a certificate is one node's identity, system:node:<name>): ` +
      'give --kubeconfig-dir KDIR with KDIR/<name>.kubeconfig for each board (k3s: docs/k3s.md "Way 1"), or --dir CLUSTER_DIR to mint one per ' +
      'board with the local control plane');
  }
  if (clusterDir !== undefined && !names && single === undefined) throw new UsageError('nvs-csv --dir needs --name NAME (or --count N --prefix P)');
  const { loadBootstrapCredentials, loadCredentials } = await import('./credentials.js');
  const { nodeNameFromCertificate } = await import('./run.js');
  const { writeNvsCsv } = await import('./nvs.js');
  const { checkNodeIdentity, loopbackWarning, mintNodeIdentities, withServer } = await import('./provision.js');
  const allowToken = values['allow-token'] === true;
  const overrides = { apiHost, serverName };
  const boards: Array<{ name: string; credentials: Credentials }> = [];
  let cleanup = (): void => {};
  try {
    if (bootstrapKubeconfig !== undefined) {
      const credentials = withServer(loadBootstrapCredentials(bootstrapKubeconfig, creds), overrides);
      for (const name of names ?? [single!]) boards.push({ name, credentials });
    } else if (clusterDir !== undefined) {
      const minted = mintNodeIdentities(path.resolve(clusterDir), names ?? [single!]);
      cleanup = minted.cleanup;
      for (const [name, file] of minted.files) boards.push({ name, credentials: withServer(loadCredentials({ ...creds, kubeconfig: file }), overrides) });
    } else if (kubeconfigDir !== undefined) {
      for (const name of names!) {
        const file = path.join(kubeconfigDir, `${name}.kubeconfig`);
        if (!fs.existsSync(file)) throw new UsageError(`${file} does not exist: --kubeconfig-dir needs one kubeconfig per board, named <name>.kubeconfig (${names![0]} .. ${names![names!.length - 1]})`);
        boards.push({ name, credentials: withServer(loadCredentials({ ...creds, kubeconfig: file }), overrides) });
      }
    } else {
      const credentials = withServer(loadCredentials(creds), overrides);
      const name = single ?? nodeNameFromCertificate(credentials);
      if (!name) throw new UsageError('nvs-csv needs --name NAME (or a kubeconfig for system:node:<name>)');
      boards.push({ name, credentials });
    }
    for (const b of boards) checkNodeIdentity(b.credentials, b.name, allowToken);
    // One line per distinct address, not per board: a rack usually shares one server.
    for (const host of new Set(boards.map((b) => b.credentials.apiHost))) {
      const warning = loopbackWarning(boards.find((b) => b.credentials.apiHost === host)!.credentials);
      if (warning) process.stderr.write(`picokubelet-sim: ${warning}\n`);
    }
    for (const b of boards) {
      const r = checked(() => writeNvsCsv({ name: b.name, credentials: b.credentials, wifiSsid: ssid, wifiPsk: psk, allowToken }, outDir), 'nvs-csv');
      out(`${r.csv}\n`);
    }
  } finally {
    cleanup();
  }
  return 0;
}

/**
 * `check`: what a user wants to know before running a node with a kubeconfig, in a few seconds. Exit 0
 * when the node could run (admin credentials too, with a warning), 1 when the server does not answer,
 * 2 when the kubeconfig cannot work (unreadable, unverifiable server, credentials refused).
 */
async function check(values: Values, creds: CredentialOptions, out: (s: string) => void): Promise<number> {
  const timeoutMs = (number(values.timeout, 'timeout') ?? 5) * 1000;
  const { loadNodeCredentials, preflight, identify, bootstrapUser, canI } = await import('./credentials.js');
  const { nodeNameFromCertificate } = await import('./run.js');
  const c = loadNodeCredentials(creds);
  if (!c.tls.insecure) {
    const p = await preflight(c, timeoutMs);
    if (!p.ok && p.unverifiable) throw new UsageError(`the certificate of ${c.server} cannot be verified for '${c.serverName}': ${p.reason}`);
    if (!p.ok) {
      process.stderr.write(`picokubelet-sim: API server ${c.server} is not reachable: ${p.reason}; is the cluster running (the local one: npm run cluster -- up)?\n`);
      return 1;
    }
  }
  const id = await identify(c, timeoutMs);
  if (!id.reachable) {
    process.stderr.write(`picokubelet-sim: API server ${c.server} is not reachable: ${id.problem}\n`);
    return 1;
  }
  if (id.problem) throw new UsageError(`${c.source}: ${id.problem}`);
  out(`server: ${c.server} reachable, certificate verified${c.tls.insecure ? ' NOT (insecure-skip-tls-verify)' : ''}\n`);
  out(`identity: ${id.user ?? '(the server does not say)'}${id.groups ? ` (groups ${id.groups.join(', ')})` : ''}, by ${c.auth}\n`);
  const certName = nodeNameFromCertificate(c);
  if (certName) out(`node name: ${certName} (from the client certificate)\n`);
  out(`admin: ${id.admin ? `yes (${id.adminWhy})` : 'no'}\n`);
  const bootstrapAs = bootstrapUser(c.bootstrapToken ?? c.token);
  if (bootstrapAs !== undefined) {
    const csr = await canI(c, 'create', 'certificates.k8s.io', 'certificatesigningrequests', timeoutMs);
    out(`bootstrap token: ${bootstrapAs} (group system:bootstrappers), a token only for TLS bootstrap: ` +
      (c.auth === 'bootstrap-token'
        ? 'the node will bootstrap: make its own key, ask for a system:node:<name> client certificate (CSR, signer kubernetes.io/kube-apiserver-client-kubelet) and use that from then on\n'
        : 'it cannot register a node; give this file with --bootstrap-kubeconfig and the node will bootstrap\n'));
    out(`may create CSRs: ${csr === undefined ? 'unknown (no answer)' : csr ? 'yes' : 'no (bind ClusterRole system:node-bootstrapper to group system:bootstrappers: deploy/bootstrap-rbac.yaml)'}\n`);
  }
  if (id.admin) {
    process.stderr.write('picokubelet-sim: warning: these are ADMIN credentials: a node running with them can change anything in the cluster. ' +
      'Give the node its own identity (npm run cluster -- kubeconfig-for-node NAME, or deploy/picokubelet-rbac.yaml)\n');
  }
  return 0;
}

async function ctl(values: Values, positionals: string[], out: (s: string) => void): Promise<number> {
  const socket = str(values['control-socket']);
  if (!socket) throw new UsageError('ctl needs --control-socket PATH');
  if (positionals.length === 0) throw new UsageError('ctl needs a command (try: ctl --control-socket PATH help)');
  const lines = positionals.join(' ').split(/\s*;\s*/).filter(Boolean);
  const timeout = number(values.timeout, 'timeout') ?? 60;
  const replies = await sendControl(socket, lines, timeout * 1000);
  let code = 0;
  for (const r of replies) {
    if (r.ok !== true) {
      process.stderr.write(`picokubelet-sim: ${String(r.error)}\n`);
      code = 1;
    } else {
      out(typeof r.result === 'string' ? `${r.result}\n` : `${JSON.stringify(r.result, null, 2)}\n`);
    }
  }
  return code;
}

function baseLink(): { kind: 'ethernet'; ip: string; bssid: string; rssi: number } {
  return { kind: 'ethernet', ip: '127.0.0.1', bssid: DEFAULT_BSSID, rssi: -55 };
}

function nodeName(v: unknown): string | undefined {
  const s = str(v);
  if (s !== undefined && (s.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s))) {
    throw new UsageError(`--name '${s}' is not a valid node name: use a lowercase RFC 1123 subdomain (a-z, 0-9, '-' and '.', ` +
      `starting and ending with a letter or digit, at most 253 characters), e.g. --name ${suggestName(s)}`);
  }
  return s;
}

/** A valid name close to what the user typed, for the example in the error. */
function suggestName(s: string): string {
  const n = s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, 63).replace(/-+$/, '');
  return n !== '' && n !== s ? n : 'picokubelet-1';
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function oneOf(v: unknown, flag: string, allowed: string[], dflt: string): string {
  const s = str(v) ?? dflt;
  if (!allowed.includes(s)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')} (got '${s}')`);
  return s;
}

function integer(v: unknown, flag: string, min: number, max: number): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < min || n > max) throw new UsageError(`--${flag} must be an integer in ${min}..${max} (got '${s}')`);
  return n;
}

function number(v: unknown, flag: string): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number (got '${s}')`);
  return n;
}

function checked<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UsageError || e instanceof CredentialsError) throw e;
    throw new UsageError(`${what}: ${(e as Error).message}`);
  }
}

/** Reads `--core-config`: inline JSON, or `@file`. */
export function readCoreConfig(value: string): Record<string, unknown> {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = fs.readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`--core-config ${value}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--core-config is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new UsageError('--core-config must be a JSON object');
  return obj as Record<string, unknown>;
}

async function pushCmd(values: Record<string, unknown>, positionals: string[], out: (s: string) => void): Promise<number> {
  const brain = await import('./brain.js');
  if (positionals.length !== 1) throw new UsageError('push takes one reference, e.g. 127.0.0.1:5000/picokubelet/brain:v1');
  const wasmFile = str(values.wasm) ?? path.join(repoRoot(), 'build', 'picokubelet.wasm');
  let wasm: Buffer;
  try {
    wasm = fs.readFileSync(wasmFile);
  } catch (e) {
    throw new UsageError(`cannot read ${wasmFile}: ${(e as Error).message}`);
  }
  let key: crypto.KeyObject | undefined;
  const keyFile = str(values.key);
  if (keyFile) {
    try {
      key = crypto.createPrivateKey(fs.readFileSync(keyFile));
    } catch (e) {
      throw new UsageError(`cannot read the key ${keyFile}: ${(e as Error).message}`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`${keyFile} is not an Ed25519 key (make one with brain-key)`);
  }
  const r = brain.push({
    reference: positionals[0], wasm, key, version: version(), revision: brain.sourceRevision(repoRoot()),
    oras: brain.findOras(repoRoot(), str(values.oras)),
  });
  if (!r.signed) process.stderr.write('picokubelet-sim: warning: pushed unsigned (no --key): nodes refuse an unsigned brain\n');
  out(r.digest + '\n');
  return 0;
}

async function brainKeyCmd(values: Record<string, unknown>, positionals: string[], out: (s: string) => void): Promise<number> {
  const brain = await import('./brain.js');
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const file = str(values.out);
  if (!file) throw new UsageError('brain-key needs --out FILE');
  const k = brain.brainKey(file);
  out(`private key ${k.privateFile} (0600)\npublic key  ${k.publicFile}: ${k.publicKey} (key id ${k.keyId}; nodes trust it with brainPublicKeys)\n`);
  return 0;
}
