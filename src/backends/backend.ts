import type { TransferListItem } from 'node:worker_threads';
import type { Batch, TaskDefinition } from '../protocol.js';
import type { CrashReason } from '../errors.js';

/**
 * The seam between the pool and how workers are made. The pool speaks to a
 * worker only through a {@link WorkerHandle} and hears from it only through
 * {@link WorkerEvents}; it never touches a Worker or ChildProcess itself.
 */
export interface Backend {
  readonly kind: BackendKind;
  /**
   * Set when one handle serves the whole pool (inline: this event loop;
   * redis: the queue): how many calls that handle runs at once. Unset, the
   * pool starts up to `size` workers of `concurrencyPerWorker` calls each.
   */
  singleHandleConcurrency?(size: number, concurrencyPerWorker: number): number;
  /**
   * Its workers say when each call with a timeout starts (W_STARTED), and the
   * timeout counts from there. False (redis): it counts from when the call is sent.
   */
  readonly reportsStart: boolean;
  /** Workers can be stopped mid-task (false for inline: it is the caller's own thread). */
  readonly preemptible: boolean;
  /**
   * What may cross to its workers, for the argument check ('none': nothing is
   * copied; 'host': another machine, which shared objects do not reach yet).
   */
  readonly boundary: 'thread' | 'process' | 'host' | 'none';
  /** Throws (at submit, nothing queued) for a task this backend cannot run: redis refuses plain functions, which would travel as source. */
  checkTask?(definition: TaskDefinition): void;
  spawn(spec: SpawnSpec, events: WorkerEvents): WorkerHandle;
}

/** Where a pool runs calls (besides `'auto'`, which picks among the first three per task). */
export type BackendKind = 'thread' | 'process' | 'inline' | 'redis';

export interface SpawnSpec {
  workerId: number;
  resourceLimits: ResourceLimits | undefined;
  env: Record<string, string> | undefined;
  execArgv: string[] | undefined;
}

/**
 * Heap limits of each worker, in MB: a worker past them dies with `reason:
 * 'out-of-memory'` and is replaced. Threads get them as Worker resourceLimits,
 * processes as V8 flags (`--max-old-space-size`, …).
 */
export interface ResourceLimits {
  /** The main heap. */
  maxOldGenerationSizeMb?: number;
  /** The heap of recently created objects. */
  maxYoungGenerationSizeMb?: number;
  /** Memory for generated code. */
  codeRangeSizeMb?: number;
  /** The thread's stack. */
  stackSizeMb?: number;
}

export interface WorkerEvents {
  message(batch: Batch): void;
  exit(info: ExitInfo): void;
}

export interface ExitInfo {
  exitCode: number | null;
  signal: string | null;
  reason: CrashReason;
  /** What the worker threw or printed before it died, when known. */
  error: unknown;
}

export interface WorkerHandle {
  send(batch: Batch, transfer?: readonly TransferListItem[]): void;
  /**
   * Takes back call `ticket` (sent ahead, see src/worker/claims.ts) unless it
   * has started, even while the worker is busy; `answer(true)`: it will never
   * run. Answers at once (threads) or a little later (processes). Absent, the
   * pool asks the worker itself (P_REVOKE), which answers when it next reads.
   */
  takeBack?(ticket: number, answer: (taken: boolean) => void): void;
  /** After the worker exited: whether call `ticket` had started (threads, whose memory outlives them). */
  hadStarted?(ticket: number): boolean;
  /** Stops the worker now; `exit` follows. */
  kill(): void;
  /** Whether this worker keeps the caller's process alive (it should only while it has work). */
  setRef(ref: boolean): void;
}
