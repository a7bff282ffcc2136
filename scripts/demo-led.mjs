#!/usr/bin/env node
// Follows a running host-sim node through its control socket and draws its LED in the terminal, using
// host-sim's own renderer (the same timings the firmware uses). Used by scripts/demo.sh; Ctrl-C ends it.
import { sendControl, ledFrame } from '../host-sim/dist/index.js';
import { displayColor } from '../host-sim/dist/led/terminal.js';

const socket = process.argv[2];
if (!socket) {
  console.error('usage: demo-led.mjs CONTROL_SOCKET');
  process.exit(2);
}
const tty = process.stdout.isTTY;
const state = { steady: 0, since: 0, blipAt: -Infinity };
let renewals = -1;
let name = '';
let label = 'CONNECTING';
let phase = '';
let note = '';

async function poll() {
  const [reply] = await sendControl(socket, ['stats'], 5_000);
  if (!reply.ok) throw new Error(String(reply.error ?? 'stats failed'));
  const now = performance.now();
  const node = reply.result;
  const led = Number(node.led);
  if (led !== state.steady) {
    state.steady = led;
    state.since = now;
    if (!tty) console.log(`LED ${node.ledName}`);
  }
  const r = Number(node.renewals);
  if (renewals >= 0 && r > renewals) state.blipAt = now;
  renewals = r;
  name = String(node.name ?? '');
  label = String(node.ledName ?? '');
  phase = String(node.phaseName ?? '');
  // The core shows CONNECTING until its Lease exists; name the step it is on rather than look stuck.
  note = label === 'CONNECTING' && phase !== '' ? `(${phase.toLowerCase()})` : '';
}

function draw() {
  // The board's values (capped at 38/255, breathing at 1..9) lifted to what a terminal can show.
  const [r, g, b] = displayColor(ledFrame(state, performance.now()));
  const dot = r + g + b === 0 ? '\x1b[90m●\x1b[0m' : `\x1b[1;38;2;${r};${g};${b}m●\x1b[0m`;
  process.stdout.write(`\r\x1b[2K  ${dot}  ${name}  LED ${label.padEnd(12)} phase ${phase.padEnd(10)} renewals ${renewals}  ${note || '(Ctrl-C to stop)'}`);
}

setInterval(() => poll().catch((e) => { console.error(`\n${e.message}`); process.exit(1); }), 250);
if (tty) setInterval(draw, 33);
process.on('SIGINT', () => { if (tty) process.stdout.write('\n'); process.exit(0); });
await poll().catch(() => undefined);
