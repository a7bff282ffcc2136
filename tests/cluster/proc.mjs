// What a process of the local control plane looks like from /proc (Linux only):
// the sockets it listens on and its argv. Needs no cluster, so suites that
// start their own (kine.test.mjs) can use it as well as those using helpers.mjs.
import fs from 'node:fs';

/** TCP sockets a process listens on, as "address:port". */
export function listeningSockets(pid) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = fs.readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const out = [];
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]]) {
    let lines = [];
    try {
      lines = fs.readFileSync(file, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const l of lines) {
      const f = l.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9])) continue; // 0A = LISTEN
      const [hex, port] = f[1].split(':');
      const addr = v6 ? `[v6 ${hex}]` : hex.match(/../g).reverse().map((b) => parseInt(b, 16)).join('.');
      out.push(`${addr}:${parseInt(port, 16)}`);
    }
  }
  return out;
}

/** A process's argv. */
export function cmdlineOf(pid) {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}
