// The Kubernetes versions the local control plane can run (`up --k8s-version`).
//
// tools/k8s-testenv/go.mod pins the default one. Each further version line has a
// go.mod of its own in tools/k8s-testenv/v1.<minor>/ (with its go.sum), and is
// built from the same harness source with `go build -modfile=v1.<minor>/go.mod`,
// so every version runs the very same testenv code against its own pinned
// k8s.io/kubernetes and the etcd that version pins. A cluster directory remembers
// the version line that wrote its datastore (<dir>/k8s-version): an API server of
// another minor version must not open it (storage versions and fields differ).

import fs from 'node:fs';
import path from 'node:path';

const VERSION_RE = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+)/m;

/** The k8s.io/kubernetes version a go.mod pins, or null. */
function pinnedIn(modPath) {
  const m = fs.readFileSync(modPath, 'utf8').match(VERSION_RE);
  return m ? m[1] : null;
}

/** "v1.31.14" -> "v1.31" */
export function versionLine(version) {
  return version.split('.').slice(0, 2).join('.');
}

/**
 * Every pinned version, the default first:
 * [{ version: 'v1.36.3', line: 'v1.36', modfile: null, isDefault: true }, { version: 'v1.31.14', line: 'v1.31', modfile: 'v1.31/go.mod' }].
 * modfile is relative to moduleDir (null: the module's own go.mod).
 */
export function pinnedVersions(moduleDir) {
  const main = pinnedIn(path.join(moduleDir, 'go.mod'));
  if (!main) throw new Error(`cannot find the k8s.io/kubernetes version in ${moduleDir}/go.mod`);
  const out = [{ version: main, line: versionLine(main), modfile: null, isDefault: true }];
  for (const ent of fs.readdirSync(moduleDir, { withFileTypes: true })) {
    if (!ent.isDirectory() || !/^v\d+\.\d+$/.test(ent.name)) continue;
    const modfile = path.join(ent.name, 'go.mod');
    if (!fs.existsSync(path.join(moduleDir, modfile))) continue;
    const version = pinnedIn(path.join(moduleDir, modfile));
    if (!version || versionLine(version) !== ent.name) {
      throw new Error(`${moduleDir}/${modfile} must pin a k8s.io/kubernetes ${ent.name}.x (found ${version || 'none'})`);
    }
    out.push({ version, line: ent.name, modfile, isDefault: false });
  }
  return out;
}

/** Human list of the valid values of --k8s-version. */
export function validVersionsText(moduleDir) {
  const all = pinnedVersions(moduleDir);
  return `${all.map((v) => `${v.version}${v.isDefault ? ' (default)' : ''}`).join(', ')}; or the line alone: ${all.map((v) => v.line).join(', ')}`;
}

/** The pinned entry for "v1.31.14" or "v1.31"; null when there is none. */
export function findVersion(moduleDir, requested) {
  return pinnedVersions(moduleDir).find((v) => v.version === requested || v.line === requested) || null;
}

export function defaultVersion(moduleDir) {
  return pinnedVersions(moduleDir)[0];
}

const RECORD = 'k8s-version';

/** The version that last ran in a cluster dir (null for a new dir, or one from before the record existed). */
export function recordedVersion(dir) {
  try {
    return fs.readFileSync(path.join(dir, RECORD), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export function recordVersion(dir, version) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, RECORD), `${version}\n`);
}
