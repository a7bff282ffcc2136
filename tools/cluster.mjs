#!/usr/bin/env node
// Local Kubernetes control plane for picokubelet's integration tests.
//
//   node tools/cluster.mjs build [--force] [--datastore kine]
//   node tools/cluster.mjs up [--dir DIR] [--datastore etcd|kine] [--node-monitor-period 1s] [--node-monitor-grace-period 20s]
//                             [--node-startup-grace-period 30s] [--apiserver-port N] [--timeout SECONDS]
//   node tools/cluster.mjs status | down [--purge] | restart-apiserver [--kill]
//   node tools/cluster.mjs kubeconfig-for-node NAME [--out FILE|-] [--token]
//   node tools/cluster.mjs kubeconfig-for-node --prefix rack- --count 1000 --out-dir DIR [--start 0]
//   node tools/cluster.mjs kubeconfig-for-user USER [--group G]... [--out FILE|-] [--validity 24h]
//   node tools/cluster.mjs kubectl ARGS...
//   node tools/cluster.mjs oras ARGS...         (logged in to the cluster's registry, trusting the cluster CA)
//   node tools/cluster.mjs COMMAND --help      (prints, does nothing else)
//
// Unknown flags are refused with exit 2 and the command's valid flags named.
// Plain Node (>= 20) ESM with no npm dependencies, so it works before `npm ci`.
// The binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
// and the `testenv` harness) are built from tools/k8s-testenv, and kine from
// tools/k8s-testenv/kine, with the local Go toolchain and cached outside the
// work tree. See tools/README.md.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXTRA_GROUP, bootstrapTokenSecret, createSecret, parseGoDuration } from './bootstrap-token.mjs';
import { defaultVersion, findVersion, recordedVersion, recordVersion, validVersionsText, versionLine } from './k8s-versions.mjs';

const TOOLS_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(TOOLS_DIR, '..');
const MODULE_DIR = path.join(TOOLS_DIR, 'k8s-testenv');
const BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'testenv'];
const UPSTREAM_PKGS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'].map(
  (c) => `k8s.io/kubernetes/cmd/${c}`,
);
const EXIT_NOT_RUNNING = 3;
// kine (github.com/k3s-io/kine), the datastore k3s runs, from a Go module of its own.
const KINE_DIR = path.join(MODULE_DIR, 'kine');
const KINE_PKG = 'github.com/k3s-io/kine';
const DATASTORES = ['etcd', 'kine'];
// Add-ons that `up` builds and starts, each from a Go module of its own under
// tools/k8s-testenv/<name>/ (so their dependencies never change the Kubernetes
// build's cache key). `version` is read from that go.mod's require of `module`.
const ADDONS = {
  'metrics-server': {
    module: 'sigs.k8s.io/metrics-server',
    pkg: 'sigs.k8s.io/metrics-server/cmd/metrics-server',
    // metrics-server reports client-go's version variables (its Makefile sets them).
    ldflags: (v) => `-s -w -X k8s.io/client-go/pkg/version.gitVersion=${v} -X k8s.io/client-go/pkg/version.gitCommit=go-module`,
    coldBuild: 'about 8 min',
  },
  registry: {
    module: 'github.com/distribution/distribution/v3',
    pkg: 'github.com/distribution/distribution/v3/cmd/registry',
    ldflags: (v) => `-s -w -X github.com/distribution/distribution/v3/version.version=${v}`,
    coldBuild: 'about 5 min',
  },
  oras: {
    module: 'oras.land/oras',
    pkg: 'oras.land/oras/cmd/oras',
    ldflags: () => '-s -w -X oras.land/oras/internal/version.GitTreeState=clean',
    coldBuild: 'about 1 min after the registry',
  },
};
// tools/k8s-testenv/cmd/testenv/profile.go; the first is the default.
const PROFILES = ['k3s', 'upstream'];
// Applied by testenv at every start, before READY (the bindings kubeadm makes for TLS bootstrap).
const START_MANIFESTS = [path.join(REPO_ROOT, 'deploy', 'bootstrap-rbac.yaml')];

// ---------------------------------------------------------------- arguments

// Every command's flags, so that a typo is refused (exit 2, the valid flags
// named) instead of silently ignored, and `--help` can only ever print.
// kind: 'bool' takes no value; 'int' a non-negative integer; 'duration' a Go
// duration (passed on to testenv/kube-controller-manager, which parse them);
// 'string' anything. multiple: repeatable, collected in an array.
const K8S_VERSION_FLAG = {
  kind: 'string',
  arg: 'VERSION',
  help: "a pinned Kubernetes (tools/k8s-testenv/go.mod's, or one of tools/k8s-testenv/v1.*/go.mod; built on first use); up: default the version the dir last ran",
};
const DIR_FLAG = { dir: { kind: 'string', arg: 'DIR', help: 'cluster directory (default <repo>/.cluster)' } };
const COMMANDS = {
  build: {
    summary: 'build (or find) the binaries in the cache (also metrics-server, registry, oras); prints the bin dirs',
    usage: 'build [--force] [--k8s-version v1.36.3|v1.31.14]',
    flags: {
      force: { kind: 'bool', help: 'rebuild even when the cache has this build' },
      'k8s-version': K8S_VERSION_FLAG,
      datastore: { kind: 'string', arg: 'etcd|kine', choices: DATASTORES, help: 'kine: also build (or find) kine, for `up --datastore kine`' },
      dir: { kind: 'string', arg: 'DIR', help: 'accepted like everywhere, unused: the binary cache is per machine' },
    },
  },
  up: {
    summary: 'start etcd (or kine), kube-apiserver, kube-controller-manager, kube-scheduler, metrics-server, the OCI registry; return when ready',
    usage: 'up [flags]',
    flags: {
      ...DIR_FLAG,
      datastore: { kind: 'string', arg: 'etcd|kine', choices: DATASTORES, help: 'etcd (embedded in testenv, default) or kine (SQLite, as k3s runs it; built on first use)' },
      'k8s-version': K8S_VERSION_FLAG,
      profile: { kind: 'string', arg: 'k3s|upstream', choices: PROFILES, help: "API server flavour (default k3s: anonymous auth off, InternalIP first; upstream: the API server's defaults); tools/README.md" },
      'node-monitor-period': { kind: 'duration', help: 'KCM --node-monitor-period (default 1s)' },
      'node-monitor-grace-period': { kind: 'duration', help: 'KCM --node-monitor-grace-period (default 20s)' },
      'node-startup-grace-period': { kind: 'duration', help: 'KCM --node-startup-grace-period (default 30s)' },
      'cluster-signing-duration': { kind: 'duration', help: 'KCM --cluster-signing-duration: the longest certificate a CSR gets (default 8760h); e.g. 3m to see client certificates rotate' },
      'apiserver-port': { kind: 'int', arg: 'N', help: "kube-apiserver port (default: this dir's last port, else a free one)" },
      controllers: { kind: 'string', arg: 'LIST', help: 'KCM --controllers (default: the workload set in tools/README.md)' },
      'apiserver-v': { kind: 'int', arg: 'N', help: 'kube-apiserver --v (default 1)' },
      'restart-grace': { kind: 'duration', help: 'SIGTERM grace of kube-apiserver on restart-apiserver (default 3s)' },
      'stop-timeout': { kind: 'duration', help: 'SIGTERM grace per component on down (default 10s)' },
      'ready-timeout': { kind: 'duration', help: 'how long testenv waits for each component (default 120s)' },
      timeout: { kind: 'int', arg: 'SECONDS', help: 'how long `up` waits for readiness (default 300)' },
    },
  },
  status: {
    summary: 'pids and /readyz; exit 0 if up and ready, 3 if not',
    usage: 'status',
    flags: { ...DIR_FLAG },
  },
  down: {
    summary: 'stop everything started for the dir',
    usage: 'down [--purge]',
    flags: { ...DIR_FLAG, purge: { kind: 'bool', help: 'also delete the cluster dir (etcd or kine data, PKI, tokens, logs)' } },
  },
  'restart-apiserver': {
    summary: 'stop and restart only kube-apiserver (same port, certificates and tokens)',
    usage: 'restart-apiserver [--kill]',
    flags: {
      ...DIR_FLAG,
      kill: { kind: 'bool', help: 'SIGKILL (a crash) instead of SIGTERM with a short grace' },
      timeout: { kind: 'int', arg: 'SECONDS', help: 'how long to wait for /readyz afterwards (default 180)' },
    },
  },
  'kubeconfig-for-node': {
    summary: 'mint node credentials (client certificate system:node:NAME, or a static token) as a kubeconfig',
    usage: 'kubeconfig-for-node NAME [--out FILE|-] [--token] [--validity 8760h]\n       kubeconfig-for-node --prefix P --count N --out-dir DIR [--start 0]',
    positional: { max: 1, name: 'NAME' },
    flags: {
      ...DIR_FLAG,
      out: { kind: 'string', arg: 'FILE|-', help: 'where to write it (default <dir>/nodes/NAME.kubeconfig; - for stdout)' },
      token: { kind: 'bool', help: 'a static bearer token instead of a certificate (pk-token-0 .. pk-token-15 only)' },
      validity: { kind: 'duration', help: 'certificate lifetime (default 8760h)' },
      server: { kind: 'string', arg: 'URL', help: 'server URL written into the kubeconfig (default the cluster\'s)' },
      prefix: { kind: 'string', arg: 'P', help: 'batch form: node names P<start> .. P<start+count-1>' },
      count: { kind: 'int', arg: 'N', help: 'batch form: how many' },
      start: { kind: 'int', arg: 'N', help: 'batch form: first index (default 0)' },
      'out-dir': { kind: 'string', arg: 'DIR', help: 'batch form: output directory (one NAME.kubeconfig each)' },
    },
  },
  'kubeconfig-for-user': {
    summary: 'mint a client certificate (cluster CA) for USER in groups --group as a kubeconfig; the user has no RBAC unless bound',
    usage: 'kubeconfig-for-user USER [--group G]... [--out FILE|-] [--validity 24h]',
    positional: { max: 1, name: 'USER' },
    flags: {
      ...DIR_FLAG,
      group: { kind: 'string', multiple: true, arg: 'G', help: 'a group of the user, the certificate\'s O (repeatable; system:masters is refused)' },
      out: { kind: 'string', arg: 'FILE|-', help: 'where to write it (default <dir>/users/USER.kubeconfig; - for stdout)' },
      validity: { kind: 'duration', help: 'certificate lifetime (default 24h)' },
      server: { kind: 'string', arg: 'URL', help: 'server URL written into the kubeconfig (default the cluster\'s)' },
    },
  },
  'bootstrap-token': {
    summary: 'create a bootstrap token (Secret in kube-system) and print a bootstrap kubeconfig: server, CA, token; no admin credential',
    usage: 'bootstrap-token [--ttl 24h] [--out FILE] [--server URL]',
    flags: {
      ...DIR_FLAG,
      ttl: { kind: 'string', arg: 'DURATION', help: 'lifetime of the token (default 24h; 0: never expires)' },
      out: { kind: 'string', arg: 'FILE', help: 'write the kubeconfig there (mode 0600) instead of stdout' },
      server: { kind: 'string', arg: 'URL', help: "server URL written into the kubeconfig (default the cluster's)" },
      description: { kind: 'string', arg: 'TEXT', help: 'the Secret\'s description field' },
    },
  },
  kubectl: {
    summary: 'run the cached kubectl as cluster admin; everything after `kubectl` is kubectl\'s (`kubectl help` for its own help)',
    usage: 'kubectl [--dir DIR] ARGS...',
    flags: { ...DIR_FLAG },
  },
  oras: {
    summary: "run the cached oras logged in to the cluster's registry, trusting only the cluster CA; everything after `oras` is oras's",
    usage: 'oras [--dir DIR] ARGS...      (e.g. oras push $(cluster.mjs status | registry address)/demo/x:v1 file.txt)',
    flags: { ...DIR_FLAG },
  },
};
const HELP_FLAG = { help: { kind: 'bool', help: 'print this help and do nothing else' } };

class UsageError extends Error {}

const DURATION = /^(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))+$/;

/** Parses argv against the command's flags; throws UsageError on anything unknown or malformed. */
function parseArgs(cmd, argv) {
  const spec = { ...COMMANDS[cmd].flags, ...HELP_FLAG };
  const flags = {};
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h') {
      flags.help = true;
      continue;
    }
    if (!a.startsWith('--') || a === '-') {
      if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown flag ${a}`);
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const f = spec[name];
    if (!f) throw new UsageError(`unknown flag --${name}`);
    let value;
    if (f.kind === 'bool') {
      if (eq >= 0) {
        const v = a.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new UsageError(`--${name} takes no value (or =true/=false), got ${JSON.stringify(v)}`);
        value = v === 'true';
      } else {
        value = true;
      }
    } else if (eq >= 0) {
      value = a.slice(eq + 1);
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      value = argv[++i];
    } else {
      throw new UsageError(`flag --${name} needs a value${f.arg ? ` (${f.arg})` : ''}`);
    }
    if (f.kind === 'int' && !/^\d+$/.test(value)) throw new UsageError(`--${name} wants a non-negative integer, got ${JSON.stringify(value)}`);
    if (f.kind === 'duration' && !DURATION.test(value)) throw new UsageError(`--${name} wants a duration such as 20s or 1m30s, got ${JSON.stringify(value)}`);
    if (f.choices && !f.choices.includes(value)) throw new UsageError(`--${name} is one of ${f.choices.join(', ')}, got ${JSON.stringify(value)}`);
    if (f.multiple) (flags[name] ??= []).push(value);
    else flags[name] = value;
  }
  const max = COMMANDS[cmd].positional?.max ?? 0;
  if (positional.length > max) {
    throw new UsageError(max ? `too many arguments: ${positional.join(' ')}` : `\`${cmd}\` takes no arguments, got ${positional.join(' ')}`);
  }
  return { flags, positional };
}

function commandHelp(cmd) {
  const c = COMMANDS[cmd];
  const spec = { ...c.flags, ...HELP_FLAG };
  const rows = Object.entries(spec).map(([n, f]) => [`--${n}${f.kind === 'bool' ? '' : ` ${f.arg || (f.kind === 'duration' ? 'DURATION' : 'VALUE')}`}`, f.help]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return [
    `usage: node tools/cluster.mjs ${c.usage}`,
    '',
    `  ${c.summary}`,
    '',
    'flags:',
    ...rows.map(([l, h]) => `  ${l.padEnd(w)}  ${h}`),
  ].join('\n');
}

function validFlags(cmd) {
  return Object.keys({ ...COMMANDS[cmd].flags, ...HELP_FLAG })
    .map((n) => `--${n}`)
    .join(' ');
}

function die(msg, code = 1) {
  console.error(`cluster: ${msg}`);
  process.exit(code);
}

// Diagnostics and progress go to stderr; stdout carries only results (paths, kubeconfigs, status).
function log(msg) {
  console.error(`cluster: ${msg}`);
}

function fmtDuration(ms) {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- build and cache

// modfile: another version's go.mod (tools/k8s-versions.mjs), relative to the module dir.
function goEnv(modfile = null) {
  return {
    ...process.env,
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
    GOFLAGS: `-buildvcs=false -mod=readonly${modfile ? ` -modfile=${modfile}` : ''}`,
  };
}

function runGo(args, opts = {}) {
  const r = spawnSync('go', args, { cwd: MODULE_DIR, env: goEnv(), encoding: 'utf8', ...opts });
  if (r.error && r.error.code === 'ENOENT') {
    die('the Go toolchain (`go`) is not on PATH; it is needed to build the control plane (see tools/README.md)');
  }
  if (r.status !== 0) die(`go ${args.join(' ')} failed:\n${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

/** The pinned Kubernetes version entry for --k8s-version (default: the one go.mod pins). */
function k8sVersion(requested) {
  const v = requested ? findVersion(MODULE_DIR, requested) : defaultVersion(MODULE_DIR);
  if (!v) die(`--k8s-version is one of ${validVersionsText(MODULE_DIR)}; got ${JSON.stringify(requested)}`, 2);
  return v;
}

function versionLdflags(version, buildDate) {
  const [major, minor] = version.replace(/^v/, '').split('.');
  const flags = ['-s', '-w', `-X main.k8sVersion=${version}`];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    flags.push(
      `-X ${pkg}.gitVersion=${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    );
    if (buildDate) flags.push(`-X ${pkg}.buildDate=${buildDate}`);
  }
  return flags.join(' ');
}

function listFiles(dir) {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

function cacheRoot() {
  if (process.env.PICOKUBELET_K8S_CACHE) return path.resolve(process.env.PICOKUBELET_K8S_CACHE);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'picokubelet', 'k8s');
}

function goVersionOf(cwd) {
  const probe = spawnSync('go', ['env', 'GOVERSION', 'GOOS', 'GOARCH'], { cwd, env: goEnv(), encoding: 'utf8' });
  if (probe.error?.code === 'ENOENT' || probe.status !== 0) return null;
  return probe.stdout.trim().split('\n').join(' ');
}

/**
 * No Go here: the newest complete cached build whose dir name starts with prefix, if any.
 * The cache key cannot be computed without `go env`, so this is a best effort.
 */
function newestCachedBuild(prefix, binaries) {
  const root = cacheRoot();
  const candidates = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((d) => d.startsWith(prefix) && !d.includes('.tmp-') && binariesPresent(path.join(root, d), binaries))
        .map((d) => ({ d, t: fs.statSync(path.join(root, d)).mtimeMs }))
        .sort((a, b) => b.t - a.t)
    : [];
  if (!candidates.length) die('the Go toolchain (`go`) is not on PATH and no cached build exists; install Go 1.26 (see tools/README.md)');
  log(`warning: \`go\` not usable; using the newest cached build ${candidates[0].d} without checking it is current`);
  return candidates[0].d;
}

function hashInputs(h, moduleDir, files) {
  for (const f of files) {
    h.update(`file ${path.relative(moduleDir, f)}\n`);
    h.update(fs.readFileSync(f));
  }
}

/** Cache key over everything that affects the Kubernetes binaries of one pinned version (default: go.mod's). */
function buildSpec(requested) {
  const { version, line, modfile } = k8sVersion(requested);
  const common = {
    label: 'Kubernetes',
    version,
    moduleDir: MODULE_DIR,
    modfile,
    pkgs: [...UPSTREAM_PKGS, './cmd/testenv'],
    binaries: BINARIES,
    // The newest 3 builds of each version line are kept.
    keyPattern: new RegExp(`^${line.replace('.', '\\.')}\\.\\d+-[0-9a-f]{16}(\\.tmp-\\d+)?$`),
    keep: 3,
    coldBuild: '10-16 min',
    // buildDate is the module's publication time, so that builds are reproducible.
    ldflags: () =>
      versionLdflags(
        version,
        runGo(['list', '-m', '-f', '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}', 'k8s.io/kubernetes'], { env: goEnv(modfile) }),
      ),
  };
  const goVersion = goVersionOf(MODULE_DIR);
  if (!goVersion) {
    const key = newestCachedBuild(`${version}-`, BINARIES);
    return { ...common, goVersion: 'unknown', key, binDir: path.join(cacheRoot(), key) };
  }
  const ldflagsKey = versionLdflags(version, '');
  const h = createHash('sha256');
  h.update(`go: ${goVersion}\nldflags: ${ldflagsKey}\nflags: -trimpath CGO_ENABLED=0\n`);
  h.update(`pkgs: ${UPSTREAM_PKGS.join(' ')} ./cmd/testenv\n`);
  // The default version's key is unchanged by the other versions' existence.
  if (modfile) h.update(`modfile: ${modfile}\n`);
  const mod = path.join(MODULE_DIR, modfile || 'go.mod');
  hashInputs(h, MODULE_DIR, [mod, mod.replace(/\.mod$/, '.sum'), ...listFiles(path.join(MODULE_DIR, 'cmd'))]);
  const key = `${version}-${h.digest('hex').slice(0, 16)}`;
  return { ...common, goVersion, key, binDir: path.join(cacheRoot(), key) };
}

/** The kine version pinned in kine/go.mod, e.g. "v0.17.5". */
function kineVersion() {
  const mod = fs.readFileSync(path.join(KINE_DIR, 'go.mod'), 'utf8');
  const m = mod.match(/^\s*(?:require\s+)?github\.com\/k3s-io\/kine\s+(v\d+\.\d+\.\d+)/m);
  if (!m) die(`cannot find the github.com/k3s-io/kine version in ${KINE_DIR}/go.mod`);
  return m[1];
}

/** Cache key over everything that affects the kine binary: its own module, never ../go.mod. */
function kineSpec() {
  const version = kineVersion();
  // kine prints Version and GitCommit in `--version`; a module build has no commit.
  const ldflags = `-s -w -X ${KINE_PKG}/pkg/version.Version=${version} -X ${KINE_PKG}/pkg/version.GitCommit=go-module`;
  const common = {
    label: 'kine',
    version,
    moduleDir: KINE_DIR,
    pkgs: [KINE_PKG],
    binaries: ['kine'],
    keyPattern: /^kine-v\d+\.\d+\.\d+-[0-9a-f]{16}(\.tmp-\d+)?$/,
    keep: 2,
    coldBuild: 'about 6 min',
    ldflags: () => ldflags,
  };
  const goVersion = goVersionOf(KINE_DIR);
  if (!goVersion) {
    const key = newestCachedBuild(`kine-${version}-`, ['kine']);
    return { ...common, goVersion: 'unknown', key, binDir: path.join(cacheRoot(), key) };
  }
  const h = createHash('sha256');
  h.update(`go: ${goVersion}\nldflags: ${ldflags}\nflags: -trimpath CGO_ENABLED=0\npkgs: ${KINE_PKG}\n`);
  hashInputs(h, KINE_DIR, [path.join(KINE_DIR, 'go.mod'), path.join(KINE_DIR, 'go.sum')]);
  const key = `kine-${version}-${h.digest('hex').slice(0, 16)}`;
  return { ...common, goVersion, key, binDir: path.join(cacheRoot(), key) };
}

/** The version of module pinned in <moduleDir>/go.mod. */
function pinnedVersion(moduleDir, module) {
  const mod = fs.readFileSync(path.join(moduleDir, 'go.mod'), 'utf8');
  const m = mod.match(new RegExp(`^\\s*(?:require\\s+)?${module.replace(/[.]/g, '\\.')}\\s+(v\\d+\\.\\d+\\.\\d+)`, 'm'));
  if (!m) die(`cannot find the ${module} version in ${moduleDir}/go.mod`);
  return m[1];
}

/** Cache key over everything that affects an add-on's binary: its own module only. */
function addonSpec(name) {
  const a = ADDONS[name];
  const moduleDir = path.join(MODULE_DIR, name);
  const version = pinnedVersion(moduleDir, a.module);
  const ldflags = a.ldflags(version);
  const common = {
    label: name,
    version,
    moduleDir,
    pkgs: [a.pkg],
    binaries: [name],
    keyPattern: new RegExp(`^${name}-v\\d+\\.\\d+\\.\\d+-[0-9a-f]{16}(\\.tmp-\\d+)?$`),
    keep: 2,
    coldBuild: a.coldBuild,
    ldflags: () => ldflags,
  };
  const goVersion = goVersionOf(moduleDir);
  if (!goVersion) {
    const key = newestCachedBuild(`${name}-${version}-`, [name]);
    return { ...common, goVersion: 'unknown', key, binDir: path.join(cacheRoot(), key) };
  }
  const h = createHash('sha256');
  h.update(`go: ${goVersion}\nldflags: ${ldflags}\nflags: -trimpath CGO_ENABLED=0\npkgs: ${a.pkg}\n`);
  hashInputs(h, moduleDir, [path.join(moduleDir, 'go.mod'), path.join(moduleDir, 'go.sum')]);
  const key = `${name}-${version}-${h.digest('hex').slice(0, 16)}`;
  return { ...common, goVersion, key, binDir: path.join(cacheRoot(), key) };
}

/** Builds (or finds) every add-on; returns {name: binary path}. */
async function ensureAddons(force = false) {
  const bins = {};
  for (const name of Object.keys(ADDONS)) bins[name] = path.join(await ensureBinaries({ force, spec: addonSpec(name) }), name);
  return bins;
}

function binariesPresent(binDir, binaries = BINARIES) {
  return fs.existsSync(path.join(binDir, '.complete')) && binaries.every((b) => fs.existsSync(path.join(binDir, b)));
}

/** Builds the binaries of spec (default: Kubernetes) into the cache unless they are there already. Returns the bin dir. */
async function ensureBinaries({ force = false, spec = buildSpec() } = {}) {
  if (!force && binariesPresent(spec.binDir, spec.binaries)) {
    log(`binaries ${spec.key} cached in ${spec.binDir}`);
    return spec.binDir;
  }
  fs.mkdirSync(cacheRoot(), { recursive: true });
  // One build per key at a time (two `up`s may start together).
  const release = await buildLock(spec.binDir);
  try {
    if (!force && binariesPresent(spec.binDir, spec.binaries)) {
      log(`binaries ${spec.key} were built meanwhile by another process`);
      return spec.binDir;
    }
    return await build(spec);
  } finally {
    release();
  }
}

async function buildLock(binDir) {
  const lockFile = `${binDir}.lock`;
  let lastNote = 0;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(lockFile, { force: true });
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    const holder = Number(fs.readFileSync(lockFile, 'utf8').trim() || 0);
    if (!pidAlive(holder)) {
      fs.rmSync(lockFile, { force: true }); // stale
      continue;
    }
    if (Date.now() - lastNote > 30_000) {
      lastNote = Date.now();
      log(`waiting for another build of the same binaries (pid ${holder}, lock ${lockFile})`);
    }
    await sleep(1000);
  }
}

async function build(spec) {
  const tmp = `${spec.binDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const ldflags = spec.ldflags();
  const deps = spawnSync('go', ['list', '-deps', ...spec.pkgs], { cwd: spec.moduleDir, env: goEnv(spec.modfile), encoding: 'utf8' });
  const total = deps.status === 0 ? deps.stdout.split('\n').filter(Boolean).length : 0;
  const args = ['build', '-p', String(Math.max(1, os.cpus().length)), '-v', '-trimpath', '-ldflags', ldflags, '-o', `${tmp}/`, ...spec.pkgs];
  log(`building ${spec.binaries.join(', ')} (${spec.label} ${spec.version}, ${spec.goVersion}) into ${spec.binDir}`);
  log(`go ${args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}`);
  log(`a cold build takes ${spec.coldBuild} on 2 cores; a progress line follows every 30 s (build log: ${tmp}/build.log)`);
  const start = Date.now();
  const buildLog = fs.createWriteStream(path.join(tmp, 'build.log'));
  let compiled = 0;
  let last = '';
  let errText = '';
  const child = spawn('go', args, { cwd: spec.moduleDir, env: goEnv(spec.modfile), stdio: ['ignore', 'pipe', 'pipe'] });
  const onData = (chunk) => {
    const s = chunk.toString();
    buildLog.write(s);
    for (const line of s.split('\n')) {
      // `go build -v` prints one import path per compiled package.
      if (/^[\w.\-~/]+$/.test(line)) {
        compiled++;
        last = line;
      } else if (line.trim()) {
        errText += `${line}\n`;
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setInterval(() => {
    const of = total ? ` of ${total} in the dependency graph` : '';
    log(`build: ${fmtDuration(Date.now() - start)} elapsed, ${compiled} packages compiled${of}, last ${last || '-'}`);
  }, 30_000);
  const code = await new Promise((resolve) => {
    child.on('error', (e) => {
      errText += String(e);
      resolve(1);
    });
    child.on('close', resolve);
  });
  clearInterval(timer);
  buildLog.end();
  const secs = (Date.now() - start) / 1000;
  if (code !== 0) {
    die(`go build failed after ${fmtDuration(secs * 1000)}:\n${errText.slice(-4000)}\n(full log: ${tmp}/build.log)`);
  }
  fs.writeFileSync(
    path.join(tmp, 'build.json'),
    `${JSON.stringify({ key: spec.key, version: spec.version, go: spec.goVersion, ldflags, seconds: secs, packagesCompiled: compiled, builtAt: new Date().toISOString() }, null, 2)}\n`,
  );
  fs.writeFileSync(path.join(tmp, '.complete'), '');
  fs.rmSync(spec.binDir, { recursive: true, force: true });
  fs.renameSync(tmp, spec.binDir);
  log(`build finished in ${fmtDuration(secs * 1000)} (${compiled} packages compiled)`);
  pruneCache(spec.binDir, spec.keyPattern, spec.keep);
  return spec.binDir;
}

/** Keeps the newest few builds of one kind (Kubernetes ~350 MB each, kine ~40 MB) and removes older ones and failed temp dirs. */
function pruneCache(current, pattern, keep) {
  const root = cacheRoot();
  const dirs = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && pattern.test(d.name))
    .map((d) => path.join(root, d.name));
  for (const d of dirs.filter((d) => /\.tmp-\d+$/.test(d))) {
    const pid = Number(d.slice(d.lastIndexOf('-') + 1));
    if (!pidAlive(pid)) fs.rmSync(d, { recursive: true, force: true });
  }
  const builds = dirs
    .filter((d) => !/\.tmp-\d+$/.test(d) && d !== current)
    .map((d) => ({ d, t: fs.statSync(d).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  const inUse = new Set();
  for (const e of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    const exe = cmdline(Number(e))[0] || '';
    for (const { d } of builds) if (exe.startsWith(`${d}/`)) inUse.add(d);
  }
  for (const { d } of builds.slice(keep - 1)) {
    if (inUse.has(d)) continue; // a running cluster still uses it (restart-apiserver needs the file)
    log(`removing old build ${d}`);
    fs.rmSync(d, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- cluster state

function clusterDir(flags) {
  return path.resolve(flags.dir ? flags.dir : path.join(REPO_ROOT, '.cluster'));
}

function readJSON(p) {
  try {
    return JSON.parse(fs.readFileSync(p, 'utf8'));
  } catch {
    return null;
  }
}

function pidAlive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  // A zombie is not running.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z') return false;
  } catch {
    /* not Linux: trust kill(0) */
  }
  return true;
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** The pid of the running `testenv up` for this dir, or 0 (pid file first, then a /proc scan). */
function testenvPid(dir) {
  let pid = 0;
  try {
    pid = Number(fs.readFileSync(path.join(dir, 'testenv.pid'), 'utf8').trim());
  } catch {
    pid = 0;
  }
  if (pid && pidAlive(pid)) {
    const argv = cmdline(pid);
    if (!argv.length || (path.basename(argv[0]) === 'testenv' && argv[1] === 'up')) return pid;
  }
  // A testenv that has not written its pid file yet (just started) is found by its arguments.
  const found = leftoverProcesses(dir, ['testenv']).filter((p) => cmdline(p.pid)[1] === 'up');
  return found.length ? found[0].pid : 0;
}

const COMPONENTS = ['testenv', 'kine', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'metrics-server', 'registry'];

/** Long-running processes started for this cluster dir that are still alive (also orphans). */
function leftoverProcesses(dir, names = COMPONENTS) {
  const found = [];
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    const argv = cmdline(pid);
    if (!argv.length || !names.includes(path.basename(argv[0]))) continue;
    const mine = argv.some((a) => a === dir || a.includes(`${dir}/`) || a.endsWith(`=${dir}`));
    if (mine && pidAlive(pid)) found.push({ pid, name: path.basename(argv[0]) });
  }
  return found;
}

function httpsGet(url, { ca, token, timeoutMs = 5000, rejectUnauthorized = true } = {}) {
  return new Promise((resolve) => {
    const req = https.get(
      url,
      { ca, rejectUnauthorized, headers: token ? { Authorization: `Bearer ${token}` } : {}, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          if (body.length < 65536) body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
  });
}

async function readyz(info) {
  const r = await httpsGet(`${info.server}/readyz`, { ca: info.caPEM, token: info.adminToken });
  return r.status === 200;
}

// ---------------------------------------------------------------- commands

async function cmdBuild(flags) {
  const binDir = await ensureBinaries({ force: !!flags.force, spec: buildSpec(flags['k8s-version']) });
  console.log(binDir);
  if (flags.datastore === 'kine') console.log(await ensureBinaries({ force: !!flags.force, spec: kineSpec() }));
  for (const bin of Object.values(await ensureAddons(!!flags.force))) console.log(path.dirname(bin));
}

/** Copies new complete lines of a log file to stdout; returns a function to call periodically. */
function follower(file, prefix) {
  let offset = 0;
  let partial = '';
  try {
    offset = fs.statSync(file).size;
  } catch {
    offset = 0;
  }
  return () => {
    let fd;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < offset) offset = 0;
      if (size === offset) return;
      const buf = Buffer.alloc(size - offset);
      fs.readSync(fd, buf, 0, buf.length, offset);
      offset = size;
      const lines = (partial + buf.toString('utf8')).split('\n');
      partial = lines.pop();
      for (const l of lines) if (l.trim()) console.error(`${prefix}${l}`);
    } finally {
      fs.closeSync(fd);
    }
  };
}

/**
 * The pinned version `up` runs in dir: --k8s-version, else the version the dir ran last, else the default.
 * A datastore written by one minor version is never opened by another.
 */
function upVersion(flags, dir) {
  const requested = flags['k8s-version'] ? k8sVersion(flags['k8s-version']) : null;
  let recorded = recordedVersion(dir);
  // Dirs from before the record existed only ever ran the default version.
  if (!recorded && ['etcd', 'kine'].some((d) => fs.existsSync(path.join(dir, d)))) recorded = defaultVersion(MODULE_DIR).version;
  if (requested && recorded && versionLine(recorded) !== requested.line) {
    die(
      `${dir} holds a datastore written by Kubernetes ${recorded}; ${requested.version} must not open it ` +
        `(another minor version). Use another --dir, or \`down --purge --dir ${dir}\` first.`,
    );
  }
  if (requested) return requested;
  if (recorded) {
    const same = findVersion(MODULE_DIR, versionLine(recorded));
    if (!same) die(`${dir} last ran Kubernetes ${recorded}, which is no longer pinned (${validVersionsText(MODULE_DIR)}); use another --dir or \`down --purge\``);
    if (same.version !== defaultVersion(MODULE_DIR).version) log(`${dir} last ran ${recorded}: using ${same.version} (--k8s-version to choose)`);
    return same;
  }
  return defaultVersion(MODULE_DIR);
}

async function cmdUp(flags) {
  const dir = clusterDir(flags);
  const version = upVersion(flags, dir);
  const running = testenvPid(dir);
  if (running) {
    const info = readJSON(path.join(dir, 'cluster.json'));
    if (info?.ready) {
      if (flags.datastore && info.datastore !== flags.datastore) {
        log(`already running with datastore ${info.datastore || 'etcd'} (testenv pid ${running}); \`down\` first to switch to ${flags.datastore}`);
        return 1;
      }
      if (flags.profile && (info.profile || 'upstream') !== flags.profile) {
        log(`already running with profile ${info.profile || 'upstream'} (testenv pid ${running}); \`down\` first to switch to ${flags.profile}`);
        return 1;
      }
      if (info.version && versionLine(info.version) !== version.line) {
        log(`already running Kubernetes ${info.version} (testenv pid ${running}); \`down\` first (and use another --dir for ${version.version})`);
        return 1;
      }
      log(`already running (testenv pid ${running}, ${info.server}, datastore ${info.datastore}); not starting another`);
      return 0;
    }
    log(`a testenv (pid ${running}) is already starting this cluster; waiting for it instead of starting another`);
    const follow = follower(path.join(dir, 'logs', 'testenv.log'), '  ');
    const t0 = Date.now();
    const timeoutMs = Number(flags.timeout || 300) * 1000;
    for (;;) {
      await sleep(250);
      follow();
      const now = readJSON(path.join(dir, 'cluster.json'));
      if (now?.ready && (await readyz(now))) {
        log(`already running: ${now.server}`);
        return 0;
      }
      if (!pidAlive(running)) {
        log(`testenv (pid ${running}) exited; see ${path.join(dir, 'logs')}/`);
        return 1;
      }
      if (Date.now() - t0 > timeoutMs) {
        log(`not ready after ${timeoutMs / 1000}s`);
        return 1;
      }
    }
  }
  // Components whose testenv is gone (e.g. it was SIGKILLed before Pdeathsig could act).
  const leftovers = leftoverProcesses(dir);
  if (leftovers.length) {
    log(`stopping leftovers of an earlier run: ${leftovers.map((p) => `${p.name}(${p.pid})`).join(', ')}`);
    await killAll(leftovers.map((p) => p.pid), 5000);
  }
  const binDir = await ensureBinaries({ spec: buildSpec(version.version) });
  recordVersion(dir, version.version);
  const datastore = flags.datastore || 'etcd';
  const kineBin = datastore === 'kine' ? path.join(await ensureBinaries({ spec: kineSpec() }), 'kine') : '';
  const addons = await ensureAddons();
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  fs.rmSync(path.join(dir, 'cluster.json'), { force: true });
  const args = ['up', '--dir', dir, '--bin-dir', binDir, `--datastore=${datastore}`, `--profile=${flags.profile || PROFILES[0]}`];
  for (const m of START_MANIFESTS) args.push(`--manifest=${m}`);
  if (kineBin) args.push(`--kine-bin=${kineBin}`);
  args.push(`--metrics-server-bin=${addons['metrics-server']}`, `--registry-bin=${addons.registry}`);
  writeOrasWrapper(dir, addons.oras);
  for (const f of ['node-monitor-period', 'node-monitor-grace-period', 'node-startup-grace-period', 'cluster-signing-duration', 'apiserver-port', 'controllers', 'apiserver-v', 'restart-grace', 'stop-timeout', 'ready-timeout']) {
    if (flags[f] !== undefined) args.push(`--${f}=${flags[f]}`);
  }
  const logFile = path.join(logDir, 'testenv.log');
  const follow = follower(logFile, '  ');
  const out = fs.openSync(logFile, 'a');
  const t0 = Date.now();
  const child = spawn(path.join(binDir, 'testenv'), args, { cwd: REPO_ROOT, detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  let exited = null;
  child.on('exit', (code, sig) => {
    exited = { code, sig };
  });
  // testenv writes testenv.pid itself once it holds the directory's lock.
  log(`started testenv (pid ${child.pid}) for ${dir}; log ${logFile}`);
  let concurrent = false;
  const timeoutMs = Number(flags.timeout || 300) * 1000;
  for (;;) {
    await sleep(250);
    follow();
    const info = readJSON(path.join(dir, 'cluster.json'));
    if (info && info.ready) {
      if (!(await readyz(info))) continue;
      child.unref();
      if (concurrent) {
        log(`already running (started concurrently): ${info.server}`);
        return 0;
      }
      log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${info.server} (kube-apiserver ${info.version}, datastore ${info.datastore})`);
      log(`kubeconfig ${info.adminKubeconfig}`);
      log(`kubectl    ${info.kubectl}   (e.g. ${path.relative(process.cwd(), info.kubectl) || info.kubectl} get nodes)`);
      if (info.addons?.registry) log(`registry   ${info.addons.registry.address}   (oras: node tools/cluster.mjs oras ..., credentials ${info.addons.registry.authFile})`);
      return 0;
    }
    if (exited && exited.code === 4 && !concurrent) {
      // Exit code 4: another testenv holds this dir (an `up` started at the same time).
      concurrent = true;
      log('another `up` is starting this cluster; waiting for it instead');
      continue;
    }
    if (concurrent && !testenvPid(dir) && Date.now() - t0 > 5000) {
      log(`the concurrently started testenv is gone; see ${logDir}/`);
      return 1;
    }
    if (exited && !concurrent) {
      follow();
      log(`testenv exited during start-up (${exited.sig || `code ${exited.code}`}); see ${logDir}/`);
      return 1;
    }
    if (Date.now() - t0 > timeoutMs) {
      log(`not ready after ${timeoutMs / 1000}s; stopping (logs in ${logDir}/)`);
      await cmdDown(flags);
      return 1;
    }
  }
}

async function killAll(pids, graceMs) {
  const live = () => pids.filter(pidAlive);
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  }
  const deadline = Date.now() + graceMs;
  while (live().length && Date.now() < deadline) await sleep(100);
  for (const pid of live()) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* not a group leader */
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const until = Date.now() + 5000;
  while (live().length && Date.now() < until) await sleep(100);
}

async function cmdDown(flags) {
  const dir = clusterDir(flags);
  const pid = testenvPid(dir);
  const pids = readJSON(path.join(dir, 'pids.json')) || {};
  if (pid) {
    log(`stopping testenv (pid ${pid})`);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const deadline = Date.now() + 45_000;
    const follow = follower(path.join(dir, 'logs', 'testenv.log'), '  ');
    while (pidAlive(pid) && Date.now() < deadline) {
      await sleep(200);
      follow();
    }
    follow();
    if (pidAlive(pid)) {
      log('testenv did not stop in time; killing');
      await killAll([pid], 0);
    }
  }
  const rest = [...new Set([...Object.values(pids).filter(Number.isInteger), ...leftoverProcesses(dir).map((p) => p.pid)])].filter(
    (p) => p !== process.pid && pidAlive(p) && COMPONENTS.includes(path.basename(cmdline(p)[0] || '')),
  );
  if (rest.length) {
    log(`stopping remaining processes ${rest.join(', ')}`);
    await killAll(rest, 10_000);
  }
  const still = leftoverProcesses(dir);
  for (const f of ['cluster.json', 'pids.json', 'testenv.pid']) fs.rmSync(path.join(dir, f), { force: true });
  if (still.length) {
    log(`could not stop: ${still.map((p) => `${p.name}(${p.pid})`).join(', ')}`);
    return 1;
  }
  log(pid || rest.length ? 'down: nothing left running' : 'down: nothing was running');
  if (flags.purge) {
    const looksLikeCluster = ['testenv.lock', 'ports.json', 'pki/ca.crt'].some((f) => fs.existsSync(path.join(dir, f)));
    if (!looksLikeCluster) {
      log(`not purging ${dir}: it does not look like a cluster directory`);
      return fs.existsSync(dir) ? 1 : 0;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    log(`purged ${dir} (datastore, PKI, tokens, logs)`);
  }
  return 0;
}

async function cmdStatus(flags) {
  const dir = clusterDir(flags);
  const pid = testenvPid(dir);
  const info = readJSON(path.join(dir, 'cluster.json'));
  const pids = readJSON(path.join(dir, 'pids.json')) || {};
  if (!pid) {
    const left = leftoverProcesses(dir);
    console.log(`not running (${dir})`);
    if (left.length) console.log(`  stray processes: ${left.map((p) => `${p.name}(${p.pid})`).join(', ')} — run \`down\``);
    return EXIT_NOT_RUNNING;
  }
  console.log(`testenv            pid ${pid} running   (${dir})`);
  let allUp = true;
  const names = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
  if (info?.datastore === 'kine' || pids.kine) names.unshift('kine');
  for (const a of ['metrics-server', 'registry']) if (pids[a] || info?.addons?.[a === 'registry' ? 'registry' : 'metricsServer']) names.push(a);
  for (const name of names) {
    const p = pids[name];
    const alive = pidAlive(p);
    allUp &&= alive;
    console.log(`${name.padEnd(24)} pid ${p || '-'} ${alive ? 'running' : 'NOT running'}`);
  }
  if (!info) {
    console.log('cluster.json absent: still starting (or failed); see logs/testenv.log');
    return EXIT_NOT_RUNNING;
  }
  const ok = await readyz(info);
  console.log(`server   ${info.server}   /readyz ${ok ? 'ok' : 'NOT ready'}   version ${info.version}`);
  console.log(
    info.datastore === 'kine'
      ? `datastore kine ${info.etcdServer} (SQLite ${info.datastoreDir}/state.db)`
      : `datastore etcd ${info.etcdServer} (embedded in testenv, data ${info.datastoreDir || info.etcdDir})`,
  );
  const reg = info.addons?.registry;
  if (reg) console.log(`registry ${reg.address}   (${reg.url}, TLS by the cluster CA; credentials ${reg.authFile}; oras ${path.join(dir, 'bin', 'oras')})`);
  const ms = info.addons?.metricsServer;
  if (ms) console.log(`metrics-server ${ms.url}   (APIService ${ms.apiService})`);
  console.log(`kubeconfig ${info.adminKubeconfig}`);
  console.log(`kubectl    ${info.kubectl}`);
  console.log(`logs       ${info.logDir}`);
  return ok && allUp && info.ready ? 0 : EXIT_NOT_RUNNING;
}

async function cmdRestartAPIServer(flags) {
  const dir = clusterDir(flags);
  const pid = testenvPid(dir);
  const before = readJSON(path.join(dir, 'cluster.json'));
  if (!pid || !before) die('the cluster is not running (`npm run cluster -- up` first)', EXIT_NOT_RUNNING);
  const t0 = Date.now();
  const follow = follower(path.join(dir, 'logs', 'testenv.log'), '  ');
  // SIGUSR1: SIGTERM with a short grace; SIGUSR2: SIGKILL (a crash).
  process.kill(pid, flags.kill ? 'SIGUSR2' : 'SIGUSR1');
  log(`restarting kube-apiserver (pid ${before.pids['kube-apiserver']}${flags.kill ? ', SIGKILL' : ''}) on ${before.server}`);
  const timeoutMs = Number(flags.timeout || 180) * 1000;
  for (;;) {
    await sleep(250);
    follow();
    const info = readJSON(path.join(dir, 'cluster.json'));
    if (info && info.ready && info.apiserverRestarts > before.apiserverRestarts && (await readyz(info))) {
      log(`kube-apiserver restarted (pid ${info.pids['kube-apiserver']}) and ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      return 0;
    }
    if (!pidAlive(pid)) die('testenv exited during the restart; see logs/testenv.log');
    if (Date.now() - t0 > timeoutMs) die(`kube-apiserver not ready ${timeoutMs / 1000}s after the restart`);
  }
}

function serverOf(dir) {
  const info = readJSON(path.join(dir, 'cluster.json'));
  if (info?.server) return info.server;
  const ports = readJSON(path.join(dir, 'ports.json'));
  if (ports?.apiserver) return `https://127.0.0.1:${ports.apiserver}`;
  die(`no cluster in ${dir} (\`npm run cluster -- up\` first)`);
}

function tokenKubeconfig({ server, caPEM, user, token }) {
  const ctx = `${user}@picokubelet-testenv`;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: picokubelet-testenv',
    '  cluster:',
    `    server: ${JSON.stringify(server)}`,
    `    certificate-authority-data: ${Buffer.from(caPEM).toString('base64')}`,
    'users:',
    `- name: ${JSON.stringify(user)}`,
    '  user:',
    `    token: ${JSON.stringify(token)}`,
    'contexts:',
    `- name: ${JSON.stringify(ctx)}`,
    '  context:',
    '    cluster: picokubelet-testenv',
    `    user: ${JSON.stringify(user)}`,
    `current-context: ${JSON.stringify(ctx)}`,
    '',
  ].join('\n');
}

async function cmdKubeconfigForNode(flags, positional) {
  const dir = clusterDir(flags);
  const name = positional[0];
  // Usage errors first: they need no cluster.
  if (flags.token && !name) die('--token needs a node name (kubeconfig-for-node NAME --token)', 2);
  if (flags.prefix !== undefined && (!flags.count || !flags['out-dir'])) die('the batch form needs --prefix P --count N --out-dir DIR', 2);
  if (flags.prefix !== undefined && name) die('give either NAME or --prefix, not both', 2);
  if (flags.prefix === undefined && !name) die('usage: kubeconfig-for-node NAME [--out FILE|-] [--token] | --prefix P --count N --out-dir DIR', 2);
  const server = flags.server || serverOf(dir);
  if (flags.token) {
    let tokens = '';
    try {
      tokens = fs.readFileSync(path.join(dir, 'pki', 'tokens.csv'), 'utf8');
    } catch {
      die(`no ${dir}/pki/tokens.csv (\`npm run cluster -- up\` first)`);
    }
    const user = `system:node:${name}`;
    const row = tokens.split('\n').map((l) => l.split(',')).find((f) => f[1] === user);
    if (!row) die(`no static token for ${user}; tokens exist for pk-token-0 .. pk-token-15 (use a client certificate for other names)`);
    const kc = tokenKubeconfig({ server, caPEM: fs.readFileSync(path.join(dir, 'pki', 'ca.crt')), user, token: row[0] });
    return writeOut(kc, flags.out ?? path.join(dir, 'nodes', `${name}.token.kubeconfig`));
  }
  // Prefer the binaries of the running cluster (no Go needed), else the current build.
  const running = readJSON(path.join(dir, 'cluster.json'));
  const binDir =
    running?.binDir && fs.existsSync(path.join(running.binDir, 'testenv')) ? running.binDir : await ensureBinaries();
  const args = ['mint-node-cert', '--dir', dir, '--server', server];
  if (flags.prefix !== undefined) {
    args.push('--prefix', flags.prefix, '--count', String(flags.count), '--start', String(flags.start || 0), '--out-dir', path.resolve(flags['out-dir']));
  } else {
    const out = flags.out ?? path.join(dir, 'nodes', `${name}.kubeconfig`);
    args.push('--name', name, '--out', out === '-' ? '-' : path.resolve(out));
  }
  if (flags.validity) args.push('--validity', flags.validity);
  const r = spawnSync(path.join(binDir, 'testenv'), args, { stdio: 'inherit' });
  return r.status ?? 1;
}

async function cmdKubeconfigForUser(flags, positional) {
  const dir = clusterDir(flags);
  const user = positional[0];
  if (!user) die('usage: kubeconfig-for-user USER [--group G]... [--out FILE|-]', 2);
  const server = flags.server || serverOf(dir);
  const running = readJSON(path.join(dir, 'cluster.json'));
  const binDir =
    running?.binDir && fs.existsSync(path.join(running.binDir, 'testenv')) ? running.binDir : await ensureBinaries();
  const out = flags.out ?? path.join(dir, 'users', `${user.replace(/[^A-Za-z0-9._-]/g, '_')}.kubeconfig`);
  const args = ['mint-user-cert', '--dir', dir, '--server', server, '--user', user, '--out', out === '-' ? '-' : path.resolve(out)];
  for (const g of flags.group ?? []) args.push('--group', g);
  if (flags.validity) args.push('--validity', flags.validity);
  const r = spawnSync(path.join(binDir, 'testenv'), args, { stdio: 'inherit' });
  return r.status ?? 1;
}

async function cmdBootstrapToken(flags) {
  const ttlMs = parseGoDuration(flags.ttl ?? '24h');
  if (ttlMs === null) die(`--ttl wants a duration such as 24h or 30m (or 0: never expires), got ${JSON.stringify(flags.ttl)}`, 2);
  const dir = clusterDir(flags);
  const info = readJSON(path.join(dir, 'cluster.json'));
  if (!info?.ready) die(`no running cluster in ${dir} (\`npm run cluster -- up\` first)`, EXIT_NOT_RUNNING);
  const t = bootstrapTokenSecret({ ttlMs, description: flags.description || 'picokubelet node bootstrap (tools/cluster.mjs bootstrap-token)' });
  const r = await createSecret(info, t.object);
  if (r.status !== 201) die(`creating Secret kube-system/${t.object.metadata.name} failed: HTTP ${r.status} ${r.text.slice(0, 500)}`);
  // The id is public (it names the Secret and the user); the secret half is printed only in the kubeconfig.
  log(`bootstrap token ${t.id}: user system:bootstrap:${t.id}, groups system:bootstrappers, ${EXTRA_GROUP}; ${t.expiration ? `expires ${t.expiration}` : 'never expires'}`);
  const kc = tokenKubeconfig({ server: flags.server || info.server, caPEM: info.caPEM, user: `system:bootstrap:${t.id}`, token: t.token });
  if (!flags.out || flags.out === '-') {
    process.stdout.write(kc);
    return 0;
  }
  return writeOut(kc, flags.out);
}

function writeOut(text, out) {
  if (out === '-') {
    process.stdout.write(text);
    return 0;
  }
  const p = path.resolve(out);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  // Credentials inside: 0600 also when the file was there before with wider bits.
  if (fs.existsSync(p)) fs.chmodSync(p, 0o600);
  fs.writeFileSync(p, text, { mode: 0o600 });
  console.log(p);
  return 0;
}

/**
 * <dir>/bin/oras: the cached oras with the registry's credentials (the Docker
 * config testenv writes, <dir>/registry/docker/config.json) and the cluster CA
 * as its only trusted CA: Go reads SSL_CERT_FILE and SSL_CERT_DIR instead of
 * the system store (the dir named is an empty one).
 */
function writeOrasWrapper(dir, orasBin) {
  const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
  const trust = path.join(dir, 'registry', 'trusted-cas');
  fs.mkdirSync(trust, { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  const script = [
    '#!/bin/sh',
    "# Generated by `cluster.mjs up`: oras logged in to this cluster's registry (see registry-auth.json),",
    '# trusting only the cluster CA.',
    `DOCKER_CONFIG=${q(path.join(dir, 'registry', 'docker'))}`,
    `SSL_CERT_FILE=${q(path.join(dir, 'pki', 'ca.crt'))}`,
    `SSL_CERT_DIR=${q(trust)}`,
    'export DOCKER_CONFIG SSL_CERT_FILE SSL_CERT_DIR',
    `exec ${q(orasBin)} "$@"`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'bin', 'oras'), script, { mode: 0o755 });
  fs.chmodSync(path.join(dir, 'bin', 'oras'), 0o755);
}

function cmdOras(flags, rest) {
  const dir = clusterDir(flags);
  const info = readJSON(path.join(dir, 'cluster.json'));
  if (!info?.addons?.registry) die(`no cluster with a registry in ${dir} (\`npm run cluster -- up\` first)`, EXIT_NOT_RUNNING);
  const wrapper = path.join(dir, 'bin', 'oras');
  if (!fs.existsSync(wrapper)) die(`${wrapper} is missing (the cluster was started by an older cluster.mjs); \`down\` and \`up\` again`);
  const r = spawnSync(wrapper, rest, { stdio: 'inherit' });
  if (r.error) die(`${wrapper}: ${r.error.message}`);
  return r.status ?? 1;
}

function cmdKubectl(flags, rest) {
  const dir = clusterDir(flags);
  const info = readJSON(path.join(dir, 'cluster.json'));
  if (!info) die(`no cluster in ${dir} (\`npm run cluster -- up\` first)`, EXIT_NOT_RUNNING);
  const r = spawnSync(path.join(info.binDir, 'kubectl'), rest, {
    stdio: 'inherit',
    env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG || info.adminKubeconfig },
  });
  return r.status ?? 1;
}

const HELP = [
  'usage: node tools/cluster.mjs COMMAND [flags]      (npm run cluster -- COMMAND ...)',
  '',
  ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(20)} ${c.summary}`),
  '',
  '`node tools/cluster.mjs COMMAND --help` (or `help COMMAND`) lists its flags and does nothing else;',
  'every command takes --dir DIR (default <repo>/.cluster). See tools/README.md.',
].join('\n');

async function main() {
  const argv = process.argv.slice(2);
  const cmd = argv[0];
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    const topic = cmd === 'help' ? argv[1] : undefined;
    if (topic && COMMANDS[topic]) {
      console.log(commandHelp(topic));
      return 0;
    }
    if (topic) {
      console.error(`cluster: unknown command ${JSON.stringify(topic)}\n\n${HELP}`);
      return 2;
    }
    (cmd ? console.log : console.error)(HELP);
    return cmd ? 0 : 2;
  }
  if (!COMMANDS[cmd]) {
    console.error(`cluster: unknown command ${JSON.stringify(cmd)}\n\n${HELP}`);
    return 2;
  }
  if (cmd === 'kubectl' || cmd === 'oras') {
    // Everything after `kubectl` (`oras`) belongs to it, except a leading --dir.
    let rest = argv.slice(1);
    const flags = {};
    if (rest[0] && (rest[0] === '--dir' || rest[0].startsWith('--dir='))) {
      if (rest[0].includes('=')) flags.dir = rest.shift().split('=').slice(1).join('=');
      else [, flags.dir] = rest.splice(0, 2);
    }
    // Our help when it comes first; kubectl's own is `kubectl help` or `kubectl get --help`.
    if (rest[0] === '--help' || rest[0] === '-h') {
      console.log(commandHelp(cmd));
      return 0;
    }
    return cmd === 'oras' ? cmdOras(flags, rest) : cmdKubectl(flags, rest);
  }
  // --help wins wherever it stands (before a `--`), even next to a bad flag: it only prints.
  const own = argv.indexOf('--') < 0 ? argv.slice(1) : argv.slice(1, argv.indexOf('--'));
  if (own.includes('--help') || own.includes('-h')) {
    console.log(commandHelp(cmd));
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs(cmd, argv.slice(1));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`cluster ${cmd}: ${e.message}\nvalid flags of \`${cmd}\`: ${validFlags(cmd)}\n(\`node tools/cluster.mjs ${cmd} --help\` explains them)`);
    return 2;
  }
  const { flags, positional } = parsed;
  switch (cmd) {
    case 'build':
      await cmdBuild(flags);
      return 0;
    case 'up':
      return cmdUp(flags);
    case 'down':
      return cmdDown(flags);
    case 'status':
      return cmdStatus(flags);
    case 'restart-apiserver':
      return cmdRestartAPIServer(flags);
    case 'kubeconfig-for-node':
      return cmdKubeconfigForNode(flags, positional);
    case 'kubeconfig-for-user':
      return cmdKubeconfigForUser(flags, positional);
    case 'bootstrap-token':
      return cmdBootstrapToken(flags);
  }
  return 2;
}

main().then(
  (code) => process.exit(code ?? 0),
  (err) => {
    console.error(err?.stack || String(err));
    process.exit(1);
  },
);
