import cliProgress from 'cli-progress';

/**
 * Progress on stderr, so stdout stays clean for tables and JSON lines: a
 * cli-progress bar when stderr is a terminal, plain lines (or nothing, for
 * per-item progress) when it is a pipe or a file, where a redrawn bar would
 * only be noise.
 */

/** Progress of a fixed list of steps (compare: workload × model). */
export interface StepProgress {
  begin(label: string): void;
  end(label: string, summary: string): void;
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
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream, format: 'compare {bar} {value}/{total} | {label}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { label: 'starting' });
  return {
    begin(label) {
      bar.update(done, { label });
    },
    end(label, summary) {
      done++;
      bar.update(done, { label: `${label}: ${summary}` });
    },
    stop() {
      bar.stop();
    },
  };
}

/** Progress of a stream of items (run): count, rate, failures, and ETA when the total is known. */
export interface ItemProgress {
  increment(failed: boolean): void;
  /** A line above the bar (or plain on a pipe): interruptions, warnings. */
  note(line: string): void;
  stop(): void;
}

export function itemProgress(total: number | undefined, stream: NodeJS.WriteStream = process.stderr): ItemProgress {
  if (!stream.isTTY) {
    return { increment() {}, note: (line) => void stream.write(`${line}\n`), stop() {} };
  }
  const started = performance.now();
  let done = 0;
  let failed = 0;
  const format =
    total === undefined
      ? 'tandem run | {value} done | {rate}/s | {failed} failed'
      : 'tandem run {bar} {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted} | {failed} failed';
  const bar = new cliProgress.SingleBar({ stream, format, hideCursor: true, etaBuffer: 50 }, cliProgress.Presets.shades_classic);
  bar.start(total ?? 0, 0, { rate: '0', failed: 0 });
  const rate = (): string => (done / Math.max(0.001, (performance.now() - started) / 1000)).toFixed(1);
  return {
    increment(isFailure) {
      done++;
      if (isFailure) failed++;
      bar.increment(1, { rate: rate(), failed });
    },
    note(line) {
      // SingleBar has no log(): clear the bar's line, write, and let the next redraw bring it back.
      stream.write(`\r\x1b[2K${line}\n`);
      bar.render();
    },
    stop() {
      bar.update(done, { rate: rate(), failed });
      bar.stop();
    },
  };
}
