// host-sim/src/scenario.ts
// Scenario files and `--at` flags: a timeline of commands (the control-channel language) run at given
// seconds after start. A file is JSON:
//
//   { "heap": "leak:rate=256", "link": "wifi:rssi=-60",
//     "timeline": [ { "at": 30, "action": "link down 10" },
//                   { "at": 60, "action": "reset-connection", "node": "sim-1" },
//                   { "at": 90, "action": { "cmd": "heap", "args": [15000] } } ] }
//
// or just the timeline array. "heap" and "link" are the starting heap and link specs (flags win).
import fs from 'node:fs';
import { Command, Controllable, parseCommand, runCommand } from './control.js';
import type { Timer, TimerService } from './timers.js';

export interface TimelineStep {
  /** Seconds after start. */
  at: number;
  cmd: Command;
  /** The step as written, for logs. */
  text: string;
}

export interface Scenario {
  heap?: string;
  link?: string;
  timeline: TimelineStep[];
}

const VERBS = new Set(['heap', 'link', 'bssid', 'ip', 'rssi', 'reset-connection', 'stall', 'blackhole', 'stop']);

/** Reads and validates a scenario file. Throws with the file name and the step at fault. */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read scenario ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`scenario ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseScenario(json, file);
}

/** Validates a parsed scenario document. */
export function parseScenario(json: unknown, where = 'scenario'): Scenario {
  const doc = Array.isArray(json) ? { timeline: json } : json;
  if (typeof doc !== 'object' || doc === null) throw new Error(`${where}: expected an object or an array of steps`);
  const { heap, link, timeline = [], ...rest } = doc as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new Error(`${where}: unknown key(s) ${unknown.join(', ')} (heap, link, timeline)`);
  if (heap !== undefined && typeof heap !== 'string') throw new Error(`${where}: "heap" must be a spec string`);
  if (link !== undefined && typeof link !== 'string') throw new Error(`${where}: "link" must be a spec string`);
  if (!Array.isArray(timeline)) throw new Error(`${where}: "timeline" must be an array`);
  const steps = timeline.map((s: unknown, i: number) => parseStep(s, `${where} step ${i + 1}`));
  return { heap, link, timeline: steps.sort((a, b) => a.at - b.at) };
}

function parseStep(s: unknown, where: string): TimelineStep {
  if (typeof s !== 'object' || s === null) throw new Error(`${where}: expected {"at": seconds, "action": ...}`);
  const { at, action, node, ...rest } = s as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw new Error(`${where}: unknown key(s) ${Object.keys(rest).join(', ')} (at, action, node)`);
  if (typeof at !== 'number' || !Number.isFinite(at) || at < 0) throw new Error(`${where}: "at" must be a number of seconds >= 0`);
  if (node !== undefined && typeof node !== 'string') throw new Error(`${where}: "node" must be a string`);
  let cmd: Command;
  try {
    if (typeof action === 'string') cmd = parseCommand(action).cmd;
    else if (typeof action === 'object' && action !== null) cmd = parseCommand(action as Record<string, unknown>).cmd;
    else throw new Error('"action" must be a command string or {"cmd": ..., "args": [...]}');
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
  if (!VERBS.has(cmd.verb)) throw new Error(`${where}: '${cmd.verb}' cannot be scheduled (${[...VERBS].join(', ')})`);
  if (node !== undefined) cmd.node = node;
  const text = `${cmd.node ? `@${cmd.node} ` : ''}${[cmd.verb, ...cmd.args].join(' ')}`;
  return { at, cmd, text };
}

/** Parses an `--at SECONDS:COMMAND` flag, e.g. `30:link down 10`. */
export function parseAtFlag(value: string): TimelineStep {
  const i = value.indexOf(':');
  if (i < 0) throw new Error(`--at ${value}: expected SECONDS:COMMAND (e.g. '30:link down 10')`);
  const at = Number(value.slice(0, i));
  return parseStep({ at: Number.isNaN(at) ? value.slice(0, i) : at, action: value.slice(i + 1) }, `--at ${value}`);
}

/** Runs the steps at `start + at` on `timers`; returns a function that cancels what has not run. */
export function scheduleTimeline(
  target: Controllable,
  steps: ReadonlyArray<TimelineStep>,
  timers: TimerService,
  start: number,
  report: (ok: boolean, text: string) => void,
): () => void {
  const pending = new Set<Timer>();
  for (const step of steps) {
    const t = timers.at(start + step.at * 1000, () => {
      pending.delete(t);
      runCommand(target, step.cmd).then(
        () => report(true, `scenario t+${step.at}s: ${step.text}`),
        (err: Error) => report(false, `scenario t+${step.at}s: ${step.text}: ${err.message}`),
      );
    });
    pending.add(t);
  }
  return () => {
    for (const t of pending) t.cancel();
    pending.clear();
  };
}
