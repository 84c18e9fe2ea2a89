import { once } from 'node:events';
import { IO_FANOUT } from '../../auto/router.js';
import { type Future, Pool, type PoolOptions } from '../../index.js';
import { itemProgress, type Outcome } from '../progress.js';
import { loadTaskReference } from '../task-ref.js';
import { countInputs, openInput, parseLine } from './input.js';
import { OutputQueue, describeError, errorLine, resultLine, type ErrorDescription } from './output.js';

/**
 * `tandem run ./tasks.mjs#name --input items.jsonl`: runs the task once per
 * input line, in parallel, and writes one JSON line per input (see output.ts).
 *
 *   input lines ──(pulled only while fewer than `window` are unfinished)──► pool.submit
 *        ▲                                                                    │
 *        └── Ctrl-C: stop pulling ◄── settle: write line, progress, wake ◄────┘
 *
 * Calls go through `submit` with one future per input rather than `imap`,
 * because imap stops at the first failure and a failed input must not stop
 * the run. Input is still pulled lazily: a new line is read only when a call
 * finishes, so a huge file or an endless stdin never piles up in memory.
 *
 * Exit codes: 0 every input succeeded, 1 some failed, 130 Ctrl-C, 143 SIGTERM,
 * 141 stdout closed by its reader.
 */

export interface RunOptions {
  input?: string;
  backend: NonNullable<PoolOptions['backend']>;
  size: number;
  concurrencyPerWorker: number;
  retries: number;
  timeout?: number;
  unordered: boolean;
}

type State = 'running' | 'stopping' | 'terminating';

/** What stopped a run before its input ended, with the exit code it leads to (the shell's 128 + signal number). */
type StopCause = 'SIGINT' | 'SIGTERM' | 'EPIPE';
const EXIT_CODES: Record<StopCause, number> = { SIGINT: 130, SIGTERM: 143, EPIPE: 141 };
const STOPPED_BY: Record<StopCause, string> = { SIGINT: 'Ctrl-C (SIGINT)', SIGTERM: 'SIGTERM', EPIPE: 'stdout being closed (EPIPE)' };

/** The error line of an input that was read but not run to the end because the run was stopped. */
function stoppedInput(cause: StopCause): ErrorDescription {
  return { name: 'CancelledError', code: 'ERR_TANDEM_CANCELLED', message: `not run to the end: stopped by ${STOPPED_BY[cause]}` };
}

interface Tally {
  ok: number;
  failed: number;
  cancelled: number;
}

/** The last line on stderr: counts, and for a stopped run what stopped it and where in the input. */
function summaryLine(tally: Tally, seconds: string, stop: { cause: StopCause; lastLine: number; inputEnded: boolean } | null): string {
  const counts = `${tally.ok} ok, ${tally.failed} failed${stop === null ? '' : `, ${tally.cancelled} cancelled`} in ${seconds} s`;
  if (stop === null) return `tandem run: ${tally.ok + tally.failed + tally.cancelled} input(s): ${counts}`;
  const where =
    stop.lastLine === 0
      ? 'before reading any input'
      : stop.inputEnded
        ? `after reading every input (the last at line ${stop.lastLine})`
        : `at input line ${stop.lastLine} (no later line was read)`;
  return `tandem run: stopped by ${STOPPED_BY[stop.cause]} ${where}: ${counts}`;
}

export async function runCommand(reference: string, options: RunOptions): Promise<number> {
  const loaded = await loadTaskReference(reference);
  const fromFile = options.input !== undefined && options.input !== '-';
  const total = fromFile && process.stderr.isTTY ? await countInputs(options.input!) : undefined;
  const source = openInput(options.input);
  // Inputs typed on the terminal: a bar redrawn on the line being typed would wipe it.
  const typing = !fromFile && process.stdin.isTTY === true;
  if (typing) process.stderr.write('tandem run: reading inputs from the terminal, one JSON value per line; Ctrl-D ends\n');
  const progress = itemProgress({ total, bar: !typing });
  const pool = new Pool({
    backend: options.backend,
    size: options.size,
    retries: options.retries,
    concurrencyPerWorker: options.concurrencyPerWorker,
  });
  const output = new OutputQueue(!options.unordered, (text) => {
    progress.beforeOutput();
    process.stdout.write(`${text}\n`);
  });
  // Enough unfinished inputs to keep every worker (and auto's event-loop fan-out) fed twice over.
  const fanout = options.backend === 'auto' ? IO_FANOUT : 1;
  const window = Math.max(16, options.size * options.concurrencyPerWorker * fanout * 2);
  const started = performance.now();

  // An object, not a `let`: handlers change it between awaits, which TypeScript's narrowing cannot see.
  const run: { state: State; cause: StopCause | null } = { state: 'running', cause: null };
  let outstanding = 0;
  // Submitted and not settled: on Ctrl-C the ones still queued are cancelled.
  const live = new Set<Future<unknown>>();
  let lastLine = 0;
  let inputEnded = false;
  const tally: Tally = { ok: 0, failed: 0, cancelled: 0 };
  let wake: (() => void) | null = null;
  const wakeUp = (): void => {
    const resume = wake;
    wake = null;
    resume?.();
  };
  const settle = (fill: (text: string) => void, text: string, outcome: Outcome): void => {
    tally[outcome]++;
    fill(text);
    progress.count(outcome);
    wakeUp();
  };

  const terminate = (cause: StopCause): void => {
    if (run.state === 'terminating') return;
    run.cause ??= cause;
    run.state = 'terminating';
    source.close();
    if (cause === 'SIGTERM') progress.note(`tandem run: got SIGTERM; stopping ${live.size} unfinished call(s) now`);
    // Calls still running reject (PoolClosedError) and get their error lines below.
    void pool.terminate();
    wakeUp();
  };
  const onSigint = (): void => {
    if (run.state !== 'running') return terminate('SIGINT');
    run.state = 'stopping';
    run.cause = 'SIGINT';
    source.close();
    // Queued calls have not started: drop them now. The ones handed to a worker
    // may finish: that is running ones, and short ones the pool sent ahead to a
    // busy worker, which it no longer takes back on cancel() alone (Python's
    // executors do the same with their call queue).
    let cancelled = 0;
    for (const future of live) if (future.state === 'pending' && future.cancel()) cancelled++;
    const handed = live.size - cancelled;
    progress.note(
      `tandem run: interrupted; ${cancelled} queued call(s) cancelled, letting the ${handed} handed to workers finish (Ctrl-C again ` +
        `stops them now)`,
    );
    wakeUp();
  };
  // A call that ended because the run was stopped: cancelled while queued, stopped
  // by terminate(), or run by a child process that got the terminal's SIGINT itself
  // (Ctrl-C signals the whole foreground process group, workers included).
  const stoppedByUs = (error: unknown): boolean => {
    const { code, signal } = (error ?? {}) as { code?: string; signal?: string | null };
    if (code === 'ERR_TANDEM_WORKER_CRASHED') return signal === 'SIGINT';
    return run.state !== 'running' && (code === 'ERR_TANDEM_CANCELLED' || code === 'ERR_TANDEM_POOL_CLOSED');
  };
  const onStdoutError = (error: NodeJS.ErrnoException): void => {
    // The reader went away (`| head`): nothing more can be delivered.
    if (error.code === 'EPIPE') terminate('EPIPE');
  };
  const onSigterm = (): void => terminate('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.stdout.on('error', onStdoutError);

  try {
    for await (const item of source.lines) {
      if (run.state !== 'running') break;
      lastLine = item.line;
      const fill = output.reserve();
      const parsed = parseLine(item);
      if (!parsed.ok) {
        settle(fill, errorLine(item.line, item.text, describeError(parsed.error)), 'failed');
      } else {
        const input = parsed.value;
        outstanding++;
        let future: Future<unknown> | null = null;
        const done = (text: string, outcome: Outcome): void => {
          outstanding--;
          if (future !== null) live.delete(future);
          settle(fill, text, outcome);
        };
        try {
          future = pool.submit(loaded.fn, [input], options.timeout === undefined ? undefined : { timeout: options.timeout });
          live.add(future);
          future.then(
            (result) => done(resultLine(item.line, result), 'ok'),
            (error: unknown) =>
              stoppedByUs(error)
                ? done(errorLine(item.line, input, stoppedInput(run.cause ?? 'SIGINT')), 'cancelled')
                : done(errorLine(item.line, input, describeError(error)), 'failed'),
          );
        } catch (error) {
          // Refused at submit (an input that cannot be sent to a worker): nothing ran.
          done(errorLine(item.line, input, describeError(error)), 'failed');
        }
      }
      // Pull the next line only when there is room; ordered output also bounds what waits to be written.
      const unfinished = (): number => (options.unordered ? outstanding : output.held);
      while (run.state === 'running' && unfinished() >= window) await new Promise<void>((resolve) => (wake = resolve));
      if (process.stdout.writableNeedDrain && run.state === 'running') await once(process.stdout, 'drain');
    }
    // Closing the source on a stop also ends the loop: only an end reached while running is the input's end.
    if (run.state === 'running') inputEnded = true;
    while (outstanding > 0) await new Promise<void>((resolve) => (wake = resolve));
  } finally {
    source.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    progress.stop();
    if (run.state === 'terminating') await pool.terminate();
    else await pool.close();
    process.stdout.off('error', onStdoutError);
  }

  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  const stop = run.cause === null ? null : { cause: run.cause, lastLine, inputEnded };
  process.stderr.write(`${summaryLine(tally, seconds, stop)}\n`);
  if (run.cause !== null) return EXIT_CODES[run.cause];
  return tally.failed > 0 ? 1 : 0;
}
