import { fstatSync } from 'node:fs';
import cliProgress from 'cli-progress';

/**
 * Progress on stderr, so stdout stays clean for tables and JSON lines: a
 * cli-progress bar when stderr is a terminal, plain lines (or nothing, for
 * per-item progress) when it is a pipe or a file, where a redrawn bar would
 * only be noise.
 *
 * The bar is one line at the bottom of the terminal, redrawn in place on a
 * timer. Anything else written to that terminal (a note on stderr, a result
 * line on stdout when stdout is the same terminal) first erases the bar's
 * line, so that it lands on a line of its own; the next redraw brings the bar
 * back below it. cli-progress's MultiBar is used even for one bar because it
 * draws relative to the current line: SingleBar saves the cursor when it
 * starts and restores it when it stops, which sends the cursor back up over
 * whatever was printed meanwhile. The terminal's cursor and line wrapping are
 * left as they are, so nothing needs restoring if the process is killed.
 */

const ERASE_LINE = '\r\x1b[2K';

interface BottomLine {
  update(value: number, payload: Record<string, unknown>): void;
  /**
   * Erases the bar's line so the next write starts on a clean one (the bar
   * comes back at the next tick). Always, not only when the bar is drawn:
   * the terminal's own echo (`^C`) may sit on that line too.
   */
  erase(): void;
  /** Erases the bar for good (again: nothing). Its timer keeps the process alive until then. */
  stop(): void;
}

function bottomLine(stream: NodeJS.WriteStream, format: string, total: number, payload: Record<string, unknown>): BottomLine {
  // Three columns short of the terminal's width, so that the terminal's echo
  // of Ctrl-C (`^C`, written where the cursor is, after the bar) still fits on
  // the bar's line: if it wrapped, the bar would be left on the line above,
  // where erasing the current line misses it.
  const fitted: cliProgress.GenericFormatter = (options, params, values) =>
    cliProgress.Format.Formatter({ ...options, format }, params, values).slice(0, Math.max(1, params.maxWidth - 3));
  const bars = new cliProgress.MultiBar(
    {
      stream,
      format: fitted,
      // Neither hides the cursor nor turns off the terminal's line wrapping
      // (cli-progress 3.12 reads null as false, and false as "turn it off");
      // a bar longer than the terminal is cut to its width instead.
      hideCursor: false,
      linewrap: true,
      // Redraw on every tick even when nothing changed: the line may have been erased meanwhile.
      forceRedraw: true,
      clearOnComplete: true,
      gracefulExit: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(total, 0, payload);
  let stopped = false;
  return {
    update(value, values) {
      bar.update(value, values);
    },
    erase() {
      stream.write(ERASE_LINE);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bars.stop();
    },
  };
}

/** Whether two streams write to the same terminal (then one's output must not land on the other's bar). */
export function sameTerminal(a: NodeJS.WriteStream, b: NodeJS.WriteStream): boolean {
  if (!a.isTTY || !b.isTTY) return false;
  // process.stdout and process.stderr have one; a stream made by hand may not.
  const fdA = (a as { fd?: number }).fd;
  const fdB = (b as { fd?: number }).fd;
  try {
    if (fdA === undefined || fdB === undefined) throw new TypeError('no file descriptor');
    const x = fstatSync(fdA);
    const y = fstatSync(fdB);
    return x.dev === y.dev && x.ino === y.ino && x.rdev === y.rdev;
  } catch {
    // Cannot tell: assume the common case, both on the user's one terminal.
    return true;
  }
}

/** Progress of a fixed list of steps (compare: workload × model × run). */
export interface StepProgress {
  begin(label: string): void;
  end(label: string, summary: string): void;
  /** A line above the bar (or plain on a pipe). */
  note(line: string): void;
  stop(): void;
}

export function stepProgress(total: number, stream: NodeJS.WriteStream = process.stderr): StepProgress {
  let done = 0;
  if (!stream.isTTY) {
    return {
      begin() {},
      end(label, summary) {
        done++;
        stream.write(`[${done}/${total}] ${label}: ${summary}\n`);
      },
      note: (line) => void stream.write(`${line}\n`),
      stop() {},
    };
  }
  const bar = bottomLine(stream, 'compare {bar} {value}/{total} | {label}', total, { label: 'starting' });
  return {
    begin(label) {
      bar.update(done, { label });
    },
    end(label, summary) {
      done++;
      bar.update(done, { label: `${label}: ${summary}` });
    },
    note(line) {
      bar.erase();
      stream.write(`${line}\n`);
    },
    stop() {
      bar.stop();
    },
  };
}

export type Outcome = 'ok' | 'failed' | 'cancelled';

/** Progress of a stream of items (run): count, rate, failures, and ETA when the total is known. */
export interface ItemProgress {
  count(outcome: Outcome): void;
  /** A line above the bar (or plain on a pipe): interruptions, warnings. */
  note(line: string): void;
  /** Call before writing a line to stdout: when stdout is the bar's terminal, the bar makes way. */
  beforeOutput(): void;
  /** Removes the bar; what is written next starts on a clean line. */
  stop(): void;
}

export interface ItemProgressOptions {
  /** Inputs expected, when known ahead (a file): the bar then shows a percentage and an ETA. */
  total?: number;
  /** Whether to show a bar at all on a terminal (not while the user types the inputs on it). */
  bar?: boolean;
  stream?: NodeJS.WriteStream;
  output?: NodeJS.WriteStream;
}

export function itemProgress(options: ItemProgressOptions = {}): ItemProgress {
  const { total, stream = process.stderr, output = process.stdout } = options;
  if (!stream.isTTY || options.bar === false) {
    return { count() {}, note: (line) => void stream.write(`${line}\n`), beforeOutput() {}, stop() {} };
  }
  const shared = sameTerminal(stream, output);
  const started = performance.now();
  let done = 0;
  let failed = 0;
  const format =
    total === undefined
      ? 'tandem run | {value} done | {rate}/s | {failed} failed'
      : 'tandem run {bar} {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted} | {failed} failed';
  const bar = bottomLine(stream, format, total ?? 0, { rate: '0', failed: 0 });
  const rate = (): string => (done / Math.max(0.001, (performance.now() - started) / 1000)).toFixed(1);
  return {
    count(outcome) {
      done++;
      if (outcome === 'failed') failed++;
      bar.update(done, { rate: rate(), failed });
    },
    note(line) {
      bar.erase();
      stream.write(`${line}\n`);
    },
    beforeOutput() {
      if (shared) bar.erase();
    },
    stop() {
      bar.stop();
    },
  };
}
