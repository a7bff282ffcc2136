// host-sim/src/logger.ts
// The only logger of host-sim: levels error/warn/info/debug, text or JSON lines on stderr, a per-node
// prefix, and a last line of defence that redacts registered secrets (bearer tokens) from every line.

/** Log levels, most severe first (the same order as the ABI's LOG_* codes). */
export const LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type Level = (typeof LEVELS)[number];

/** One log line. */
export interface LogRecord {
  time: Date;
  level: Level;
  /** Node name, when the line is about one node. */
  node?: string;
  /** `core` for lines the .wasm logged, `host` for host-sim's own. */
  source: 'core' | 'host';
  msg: string;
}

export interface LoggerOptions {
  level?: Level;
  format?: 'text' | 'json';
  /** Where lines go (default: process.stderr). */
  write?: (line: string) => void;
  /** ANSI colours in text format (default: stderr is a TTY and NO_COLOR is unset). */
  color?: boolean;
}

const COLORS: Record<Level, string> = { error: '\x1b[31m', warn: '\x1b[33m', info: '\x1b[36m', debug: '\x1b[90m' };

/** A level name, or undefined when `s` is not one. */
export function parseLevel(s: string): Level | undefined {
  return (LEVELS as readonly string[]).includes(s) ? (s as Level) : undefined;
}

export class Logger {
  readonly level: Level;
  readonly format: 'text' | 'json';
  private readonly write: (line: string) => void;
  private readonly color: boolean;
  private readonly secrets = new Set<string>();
  /** Wraps every write (the LED status line clears itself before and redraws after). */
  around: (write: () => void) => void = (w) => w();

  constructor(opts: LoggerOptions = {}) {
    this.level = opts.level ?? 'info';
    this.format = opts.format ?? 'text';
    this.write = opts.write ?? ((line) => process.stderr.write(line));
    this.color = opts.color ?? (process.stderr.isTTY === true && !process.env.NO_COLOR);
  }

  /** A value that must never appear in a log line (replaced by `[REDACTED]`). */
  addSecret(secret: string | undefined): void {
    if (secret && secret.length >= 4) this.secrets.add(secret);
  }

  /** True when lines of `level` are written. */
  enabled(level: Level): boolean {
    return LEVELS.indexOf(level) <= LEVELS.indexOf(this.level);
  }

  log(rec: LogRecord): void {
    if (!this.enabled(rec.level)) return;
    let msg = rec.msg;
    for (const s of this.secrets) if (msg.includes(s)) msg = msg.split(s).join('[REDACTED]');
    const line = this.format === 'json'
      ? JSON.stringify({ time: rec.time.toISOString(), level: rec.level, node: rec.node, source: rec.source, msg }) + '\n'
      : this.text({ ...rec, msg });
    this.around(() => this.write(line));
  }

  error(msg: string, node?: string): void {
    this.log({ time: new Date(), level: 'error', node, source: 'host', msg });
  }

  warn(msg: string, node?: string): void {
    this.log({ time: new Date(), level: 'warn', node, source: 'host', msg });
  }

  info(msg: string, node?: string): void {
    this.log({ time: new Date(), level: 'info', node, source: 'host', msg });
  }

  debug(msg: string, node?: string): void {
    this.log({ time: new Date(), level: 'debug', node, source: 'host', msg });
  }

  private text(rec: LogRecord): string {
    const t = rec.time.toISOString().slice(11, 23);
    const lvl = rec.level.toUpperCase().padEnd(5);
    const who = rec.node ? `${rec.node}${rec.source === 'host' ? ' (host)' : ''}` : 'host-sim';
    if (!this.color) return `${t} ${lvl} [${who}] ${rec.msg}\n`;
    return `\x1b[90m${t}\x1b[0m ${COLORS[rec.level]}${lvl}\x1b[0m \x1b[1m[${who}]\x1b[0m ${rec.msg}\n`;
  }
}

/** A logger that writes nothing (for tests and benchmarks that only read stats). */
export function silentLogger(): Logger {
  return new Logger({ level: 'error', write: () => {} });
}
