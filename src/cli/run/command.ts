import { once } from 'node:events';
import { IO_FANOUT } from '../../auto/router.js';
import { type Future, Pool, type PoolOptions } from '../../index.js';
import { itemProgress } from '../progress.js';
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
 * Exit codes: 0 every input succeeded, 1 some failed, 130 Ctrl-C, 143 SIGTERM.
 */

export interface RunOptions {
  input?: string;
  backend: NonNullable<PoolOptions['backend']>;
  workers: number;
  concurrency: number;
  retries: number;
  timeout?: number;
  unordered: boolean;
}

type State = 'running' | 'stopping' | 'terminating';

const INTERRUPTED: ErrorDescription = {
  name: 'CancelledError',
  code: 'ERR_TANDEM_CANCELLED',
  message: 'not run to the end: stopped by Ctrl-C',
};

export async function runCommand(reference: string, options: RunOptions): Promise<number> {
  const loaded = await loadTaskReference(reference);
  const fromFile = options.input !== undefined && options.input !== '-';
  const total = fromFile && process.stderr.isTTY ? await countInputs(options.input!) : undefined;
  const source = openInput(options.input);
  if (!fromFile && process.stdin.isTTY) process.stderr.write('tandem run: reading inputs from the terminal, one JSON value per line; Ctrl-D ends\n');
  const progress = itemProgress(total);
  const pool = new Pool({ backend: options.backend, size: options.workers, retries: options.retries, concurrencyPerWorker: options.concurrency });
  const output = new OutputQueue(!options.unordered, (text) => void process.stdout.write(`${text}\n`));
  // Enough unfinished inputs to keep every worker (and auto's event-loop fan-out) fed twice over.
  const fanout = options.backend === 'auto' ? IO_FANOUT : 1;
  const window = Math.max(16, options.workers * options.concurrency * fanout * 2);
  const started = performance.now();

  // An object, not a `let`: handlers change it between awaits, which TypeScript's narrowing cannot see.
  const run: { state: State; exitCode: number } = { state: 'running', exitCode: 0 };
  let outstanding = 0;
  // Submitted and not settled: on Ctrl-C the ones still queued are cancelled.
  const live = new Set<Future<unknown>>();
  let taken = 0;
  let failed = 0;
  let wake: (() => void) | null = null;
  const wakeUp = (): void => {
    const resume = wake;
    wake = null;
    resume?.();
  };
  const settle = (fill: (text: string) => void, text: string, isFailure: boolean): void => {
    if (isFailure) failed++;
    fill(text);
    progress.increment(isFailure);
    wakeUp();
  };

  // Exit codes of a stopped run follow the shell's 128 + signal number.
  const terminate = (exitCode: number): void => {
    if (run.state === 'terminating') return;
    if (run.state === 'running') run.exitCode = exitCode;
    run.state = 'terminating';
    source.close();
    // Calls still running reject (PoolClosedError) and get their error lines below.
    void pool.terminate();
    wakeUp();
  };
  const onSigint = (): void => {
    if (run.state !== 'running') return terminate(130);
    run.state = 'stopping';
    run.exitCode = 130;
    source.close();
    // Queued calls have not started: drop them now; the running ones may finish.
    let cancelled = 0;
    for (const future of live) if (future.state === 'pending' && future.cancel()) cancelled++;
    const running = live.size - cancelled;
    progress.note(`tandem run: interrupted; ${cancelled} queued call(s) cancelled, letting ${running} running call(s) finish (Ctrl-C again stops them now)`);
    wakeUp();
  };
  // A call that ended because of Ctrl-C says so: cancelled while queued, stopped by
  // terminate(), or run by a child process that got the terminal's SIGINT itself
  // (Ctrl-C signals the whole foreground process group, workers included).
  const stoppedByUs = (error: unknown): boolean => {
    const { code, signal } = (error ?? {}) as { code?: string; signal?: string | null };
    if (code === 'ERR_TANDEM_WORKER_CRASHED') return signal === 'SIGINT';
    return run.state !== 'running' && (code === 'ERR_TANDEM_CANCELLED' || code === 'ERR_TANDEM_POOL_CLOSED');
  };
  const onStdoutError = (error: NodeJS.ErrnoException): void => {
    // The reader went away (`| head`): nothing more can be delivered.
    if (error.code === 'EPIPE') terminate(141);
  };
  const onSigterm = (): void => terminate(143);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.stdout.on('error', onStdoutError);

  try {
    for await (const item of source.lines) {
      if (run.state !== 'running') break;
      taken++;
      const fill = output.reserve();
      const parsed = parseLine(item);
      if (!parsed.ok) {
        settle(fill, errorLine(item.line, item.text, describeError(parsed.error)), true);
      } else {
        const input = parsed.value;
        outstanding++;
        let future: Future<unknown> | null = null;
        const done = (text: string, isFailure: boolean): void => {
          outstanding--;
          if (future !== null) live.delete(future);
          settle(fill, text, isFailure);
        };
        try {
          future = pool.submit(loaded.fn, [input], options.timeout === undefined ? undefined : { timeout: options.timeout });
          live.add(future);
          future.then(
            (result) => done(resultLine(item.line, result), false),
            (error: unknown) => done(errorLine(item.line, input, stoppedByUs(error) ? INTERRUPTED : describeError(error)), true),
          );
        } catch (error) {
          // Refused at submit (an input that cannot be sent to a worker): nothing ran.
          done(errorLine(item.line, input, describeError(error)), true);
        }
      }
      // Pull the next line only when there is room; ordered output also bounds what waits to be written.
      const unfinished = (): number => (options.unordered ? outstanding : output.held);
      while (run.state === 'running' && unfinished() >= window) await new Promise<void>((resolve) => (wake = resolve));
      if (process.stdout.writableNeedDrain && run.state === 'running') await once(process.stdout, 'drain');
    }
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
  const how = run.state === 'running' ? '' : ' (interrupted)';
  process.stderr.write(`tandem run: ${taken} input(s), ${taken - failed} ok, ${failed} failed in ${seconds} s${how}\n`);
  if (run.state !== 'running') return run.exitCode;
  return failed > 0 ? 1 : 0;
}
