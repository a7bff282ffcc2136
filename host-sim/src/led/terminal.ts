// host-sim/src/led/terminal.ts
// Shows each node's LED in the terminal. On a TTY: an animated, coloured dot per node with the pattern's
// name, redrawn at the bottom of the screen (one line per node up to 16 nodes, then a grid of dots and a
// count per pattern), with log lines scrolling above it. Elsewhere: one plain line per pattern change.
import { Led, nameOf } from '../abi.js';
import type { Logger } from '../logger.js';
import type { SimNode } from '../node.js';
import { LED_CAP, Rgb, ledFrame } from './render.js';

export interface TerminalOptions {
  out?: NodeJS.WriteStream;
  /** Force TTY rendering on or off (default: out.isTTY). */
  tty?: boolean;
  /** Frames per second on a TTY (default 30 for up to 16 nodes, 10 above). */
  fps?: number;
}

/** The brightest a breathe gets (25 % of the cap): shown at full terminal brightness. */
const BREATHE_PEAK = Math.floor((LED_CAP * 25) / 100);

/**
 * The display colour of an LED value. A WS2812 at 9/255 is plainly visible in a room; a terminal glyph
 * at rgb(0,9,0) is black. So the brightest channel is mapped to 99..255 (a breathe's 1..9 spans that
 * range, anything at or above its peak is full brightness) and the other channels keep their ratio to
 * it, which keeps amber amber rather than yellow.
 */
export function displayColor([r, g, b]: Rgb): Rgb {
  const m = Math.max(r, g, b);
  if (m <= 0) return [0, 0, 0];
  const level = 80 + 175 * Math.min(1, m / BREATHE_PEAK);
  const s = (v: number): number => Math.min(255, Math.round((v / m) * level));
  return [s(r), s(g), s(b)];
}

const DOT = '\u25cf';

export class LedTerminal {
  private readonly out: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly fps: number | undefined;
  private nodes: SimNode[] = [];
  private drawn = 0;
  private frame: NodeJS.Timeout | null = null;

  constructor(private readonly logger: Logger, opts: TerminalOptions = {}) {
    this.out = opts.out ?? process.stdout;
    this.tty = opts.tty ?? this.out.isTTY === true;
    this.fps = opts.fps;
    if (this.tty) {
      this.logger.around = (write) => {
        this.clear();
        write();
        this.draw();
      };
    }
  }

  /** Starts showing `node`. */
  add(node: SimNode): void {
    this.nodes.push(node);
    if (this.tty) {
      this.startFrames();
      return;
    }
    this.out.write(`LED ${node.name} ${node.ledState().name}\n`);
    node.on('led', (pattern: number, name: string) => {
      if (pattern !== Led.ACTIVITY) this.out.write(`LED ${node.name} ${name}\n`);
    });
    node.on('phase', (_code: number, name: string) => this.out.write(`PHASE ${node.name} ${name}\n`));
  }

  /** Stops animating and leaves the last frame on screen. */
  close(): void {
    if (this.frame !== null) clearInterval(this.frame);
    this.frame = null;
    if (this.tty) {
      this.clear();
      this.draw();
      this.out.write('\n\x1b[?25h');
      this.drawn = 0;
      this.logger.around = (w) => w();
    }
  }

  private startFrames(): void {
    if (this.frame !== null) return;
    const fps = this.fps ?? (this.nodes.length > 16 ? 10 : 30);
    this.out.write('\x1b[?25l');
    this.frame = setInterval(() => {
      this.clear();
      this.draw();
    }, Math.round(1000 / fps));
    this.frame.unref();
  }

  private clear(): void {
    if (this.drawn === 0) return;
    this.out.write('\r\x1b[2K' + '\x1b[1A\x1b[2K'.repeat(this.drawn - 1));
    this.drawn = 0;
  }

  private draw(): void {
    if (this.nodes.length === 0) return;
    const width = Math.max(20, (this.out.columns || 100) - 1);
    const lines = this.nodes.length <= 16 ? this.nodes.map((n) => this.nodeLine(n, width)) : this.grid(width);
    this.out.write(lines.join('\n'));
    this.drawn = lines.length;
  }

  private dot(n: SimNode): string {
    const s = n.ledState();
    const [r, g, b] = displayColor(ledFrame(s, n.timers.now()));
    return r + g + b === 0 ? `\x1b[90m${DOT}\x1b[0m` : `\x1b[38;2;${r};${g};${b}m${DOT}\x1b[0m`;
  }

  private nodeLine(n: SimNode, width: number): string {
    const st = n.stats();
    const text = ` ${n.ledState().name.padEnd(12)} ${n.name}  ${st.phaseName}  renewals ${st.renewals}  heap ${st.host.heapFree}/${st.host.heapTotal}  link ${st.host.link}`;
    return this.dot(n) + text.slice(0, width - 1);
  }

  /** Many nodes: rows of dots, then how many nodes show each pattern. */
  private grid(width: number): string[] {
    const perRow = Math.max(10, Math.min(100, width));
    const rows: string[] = [];
    for (let i = 0; i < this.nodes.length; i += perRow) rows.push(this.nodes.slice(i, i + perRow).map((n) => this.dot(n)).join(''));
    const counts = new Map<string, number>();
    for (const n of this.nodes) {
      const name = nameOf(Led, n.ledState().steady);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    const summary = [...counts].map(([k, v]) => `${k} ${v}`).join('  ');
    rows.push(`${this.nodes.length} nodes: ${summary}`.slice(0, width));
    return rows;
  }
}
