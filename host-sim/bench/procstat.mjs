// host-sim/bench/procstat.mjs
// CPU time and RSS of another process (the control plane's components) from /proc, so the rack benchmark
// can say what its load cost the API server, not only what it cost host-sim.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticks = 0;
/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`; 100 on every Linux we know). */
function clockTicks() {
  if (!ticks) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** User + system CPU milliseconds `pid` has used so far, or null when it is gone. */
export function cpuMs(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks(); // utime, stime: fields 14 and 15
  } catch {
    return null;
  }
}

/** Resident set size of `pid` in KiB, or null. */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The control plane's pids (testenv writes `pids.json` into the cluster dir; `cluster.mjs status` shows them). */
export function controlPlanePids(clusterDir) {
  try {
    return JSON.parse(fs.readFileSync(`${clusterDir}/pids.json`, 'utf8'));
  } catch {
    return {};
  }
}

/** CPU used by each named process between `start()` and `stop()`, as % of one core. */
export function cpuMeter(pids) {
  const names = Object.keys(pids);
  let t0 = 0;
  let c0 = {};
  return {
    start() {
      t0 = performance.now();
      c0 = Object.fromEntries(names.map((n) => [n, cpuMs(pids[n])]));
    },
    stop() {
      const wall = performance.now() - t0;
      const out = {};
      for (const n of names) {
        const c1 = cpuMs(pids[n]);
        out[n] = c1 === null || c0[n] === null ? null : +((100 * (c1 - c0[n])) / wall).toFixed(1);
      }
      return out;
    },
  };
}
