// The model behind issue 8's model-based test (model.test.ts). fast-check
// drives a real pool (thread or process backend) with random sequences of
// commands — submit calls that succeed, block, throw, crash or hang (some
// with a timeout), map and imap over a few items, cancel a recent call, open
// the gate blocked calls wait on, pause, wait for the calls nothing blocks,
// close — and every step is checked against a small model of what the pool
// promises:
//
//   - a call never waits behind a busy worker while another is free: while
//     fewer gated calls than workers can be blocked, every other call settles
//     with the gates still closed;
//   - every accepted call settles exactly once, with an outcome the model
//     allows: a call that succeeds returns its own index and runs once; a
//     call that throws rejects with TaskError, one that crashes its worker with
//     WorkerCrashedError, one that hangs with TaskTimeoutError, each after
//     exactly 1 + retries runs (fewer only if close() came first, since a
//     closing pool does not retry);
//   - a call cancelled while pending never runs; one cancelled while running
//     does not run again; both reject with CancelledError;
//   - stats() adds up after every step, and at the end matches the outcomes;
//   - close() returns within a deadline, and then no worker thread or process
//     remains.
//
// Runs are counted in a probe (test/fixtures/probe.mjs), one slot per call.
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  CancelledError,
  type Future,
  type FutureState,
  type Pool,
  PoolClosedError,
  TaskError,
  TaskTimeoutError,
  WorkerCrashedError,
} from 'tandem';
import { eventually, makePool, runtime, tempDir, type BackendName } from '../helpers.js';
import { bump, read } from '../fixtures/probe.mjs';
import { MODEL_GATES, MODEL_RUNS, act, actItem } from '../fixtures/core-tasks.mjs';
import { SettleLog, accounted, allowedRuns, childPids, threadCount, within } from './watch.js';

/** How long close(), or all calls settling, may take before the run counts as hung. */
export const DEADLINE_MS = 20_000;
/** How long calls that nothing blocks may take to settle. */
const SETTLE_DEADLINE_MS = DEADLINE_MS;
const HANG_TIMEOUT_MS = 300;
/** A timeout that a call which does not hang never reaches. */
const LONG_TIMEOUT_MS = 30_000;
/** Probe slots: the gates below MODEL_RUNS, then one run counter per call. */
const PROBE_SLOTS = MODEL_RUNS + 2_000;

export type Action = 'quick' | 'slow' | 'wait' | 'gated' | 'throws' | 'exit' | 'uncaught' | 'kill' | 'hang';
type Faulty = 'throws' | 'exit' | 'uncaught' | 'kill' | 'hang';
const FAILS_WITH: Record<Faulty, Function> = {
  throws: TaskError,
  exit: WorkerCrashedError,
  uncaught: WorkerCrashedError,
  kill: WorkerCrashedError,
  hang: TaskTimeoutError,
};
const isFaulty = (action: Action): action is Faulty => action in FAILS_WITH;
/** Actions whose call is over once it has run (no timer or promise left on its worker's loop). */
const SYNC_ACTIONS: ReadonlySet<Action> = new Set<Action>(['quick', 'slow', 'throws']);

interface Model {
  closed: boolean;
  /** The gate that calls submitted now wait on; the ones before it are open. */
  gate: number;
}

interface CallRecord {
  index: number;
  action: Action;
  /** The gate a gated call waits on. */
  gate: number;
  future: Future<unknown>;
  /** What was seen when cancel() first returned true. */
  cancel: { state: FutureState; ran: number } | null;
  unsettledAtClose: boolean;
}

interface ItemsRecord {
  kind: 'map' | 'imap';
  indexes: number[];
  result: Promise<unknown[]>;
  /** imap: the values read so far; true while it still pulls or reads. */
  values: unknown[];
  active: boolean;
}

/** The system under test, and what the test knows of it. */
class Real {
  readonly pool: Pool;
  readonly probe: SharedArrayBuffer | string;
  readonly log = new SettleLog();
  readonly calls: CallRecord[] = [];
  readonly batches: ItemsRecord[] = [];
  readonly threadsBefore = threadCount();
  /** Index of the next call (its probe slot is MODEL_RUNS + index). */
  next = 0;
  /** Jobs the pool has accepted: calls, plus map and imap items (chunksize 1: one job each). */
  jobs = 0;

  constructor(
    readonly backend: BackendName,
    readonly retries: number,
    readonly size: number,
  ) {
    this.pool = makePool({ backend, size, retries });
    this.probe = backend === 'process' ? tempDir() : new SharedArrayBuffer(PROBE_SLOTS * Int32Array.BYTES_PER_ELEMENT);
  }

  runs(index: number): number {
    return read(this.probe, MODEL_RUNS + index);
  }

  openGatesUpTo(gate: number): void {
    for (let g = 0; g <= gate; g++) if (read(this.probe, MODEL_GATES + g) === 0) bump(this.probe, MODEL_GATES + g);
  }

  args(index: number, action: Action, gate: number): [SharedArrayBuffer | string, number, string, number] {
    return [this.probe, index, action, gate];
  }

  markUnsettledAtClose(): void {
    for (const call of this.calls) if (!call.future.done()) call.unsettledAtClose = true;
  }

  /** After every command: nothing settled twice, and stats() adds up. */
  checkStep(): void {
    expect(this.log.settledTwice(), 'futures settled more than once').toEqual([]);
    const sum = accounted(this.pool);
    // An imap item pulled from its input is queued a microtask later.
    const pulling = this.batches.filter((batch) => batch.kind === 'imap' && batch.active).length;
    expect(sum, 'queued + running + completed + failed + cancelled').toBeLessThanOrEqual(this.jobs);
    expect(sum, 'queued + running + completed + failed + cancelled').toBeGreaterThanOrEqual(this.jobs - pulling);
  }
}

export type PoolCommand = fc.AsyncCommand<Model, Real>;

export class Submit implements PoolCommand {
  constructor(
    readonly action: Action,
    readonly withTimeout: boolean,
  ) {}
  check(m: Readonly<Model>): boolean {
    return !m.closed;
  }
  async run(m: Model, r: Real): Promise<void> {
    submitCall(m, r, this.action, this.action === 'hang' ? HANG_TIMEOUT_MS : this.withTimeout ? LONG_TIMEOUT_MS : 0);
    r.checkStep();
  }
  toString(): string {
    return `submit(${this.action}${this.action === 'hang' ? `, timeout ${HANG_TIMEOUT_MS}` : this.withTimeout ? ', timeout long' : ''})`;
  }
}

function submitCall(m: Model, r: Real, action: Action, timeout: number): void {
  const index = r.next++;
  const future = r.pool.submit(act, r.args(index, action, m.gate), timeout > 0 ? { timeout } : undefined);
  r.jobs++;
  r.log.watch(future);
  r.calls.push({ index, action, gate: m.gate, future, cancel: null, unsettledAtClose: false });
}

/** Many quick calls at once: a pool learns from them that calls are short, and may start sending calls ahead. */
export class Burst implements PoolCommand {
  constructor(readonly calls: number) {}
  check(m: Readonly<Model>): boolean {
    return !m.closed;
  }
  async run(m: Model, r: Real): Promise<void> {
    for (let i = 0; i < this.calls; i++) submitCall(m, r, 'quick', 0);
    r.checkStep();
  }
  toString(): string {
    return `burst(${this.calls} quick)`;
  }
}

export class MapItems implements PoolCommand {
  constructor(
    readonly kind: 'map' | 'imap',
    readonly actions: Action[],
  ) {}
  check(m: Readonly<Model>): boolean {
    return !m.closed;
  }
  async run(m: Model, r: Real): Promise<void> {
    const indexes = this.actions.map(() => r.next++);
    const items = indexes.map((index, i) => r.args(index, this.actions[i], m.gate));
    if (this.kind === 'map') {
      r.jobs += items.length;
      const result = r.pool.map(actItem, items, { chunksize: 1 });
      result.catch(() => {});
      r.batches.push({ kind: 'map', indexes, result, values: [], active: false });
    } else {
      const record: ItemsRecord = { kind: 'imap', indexes, result: Promise.resolve([]), values: [], active: true };
      const source = function* (): Generator<(typeof items)[number]> {
        for (const item of items) {
          r.jobs++;
          yield item;
        }
      };
      const iterator = r.pool.imap(actItem, source(), { chunksize: 1 });
      record.result = (async () => {
        try {
          for await (const value of iterator) record.values.push(value);
        } catch (error) {
          // An imap pulls its input as it is read: close() refuses the item it pulled next.
          if (error instanceof PoolClosedError) r.jobs--;
          throw error;
        } finally {
          record.active = false;
        }
        return record.values;
      })();
      record.result.catch(() => {});
      r.batches.push(record);
    }
    r.checkStep();
  }
  toString(): string {
    return `${this.kind}(${this.actions.join(', ')})`;
  }
}

export class Cancel implements PoolCommand {
  constructor(readonly pick: number) {}
  check(): boolean {
    return true;
  }
  async run(_: Model, r: Real): Promise<void> {
    if (r.calls.length === 0) return;
    // One of the last few calls: those are the ones still pending or running.
    const call = r.calls[r.calls.length - 1 - (this.pick % Math.min(r.calls.length, 4))];
    const state = call.future.state;
    const ran = r.runs(call.index);
    const returned = call.future.cancel();
    if (state === 'pending' || state === 'running') {
      expect(returned, `cancel() of a ${state} call`).toBe(true);
      expect(call.future.state).toBe('cancelled');
      call.cancel ??= { state, ran };
    } else {
      expect(returned, `cancel() of a ${state} call`).toBe(false);
      expect(call.future.state).toBe(state);
    }
    r.checkStep();
  }
  toString(): string {
    return `cancel(last call${this.pick === 0 ? '' : ` - ${this.pick}`})`;
  }
}

export class OpenGate implements PoolCommand {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.openGatesUpTo(m.gate);
    m.gate++;
    r.checkStep();
  }
  toString(): string {
    return 'openGate';
  }
}

/** Lets the pool and its workers move on: a turn of the event loop, or a few milliseconds. */
export class Pause implements PoolCommand {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  async run(_: Model, r: Real): Promise<void> {
    await new Promise((resolve) => (this.ms === 0 ? setImmediate(resolve) : setTimeout(resolve, this.ms)));
    r.checkStep();
  }
  toString(): string {
    return `pause(${this.ms})`;
  }
}

/**
 * Promise 1 of the issue: a call never waits behind a busy worker while
 * another worker is free. While fewer gated calls than workers can be
 * blocked, every other call must settle with the gates still closed.
 * Promise 2: a result does not wait for another call. Even with every worker
 * blocked, a synchronous call that has already run settles (its result may be
 * held by a worker now stuck in a gated call).
 */
export class SettleOthers implements PoolCommand {
  check(m: Readonly<Model>): boolean {
    return !m.closed;
  }
  async run(m: Model, r: Real): Promise<void> {
    // A gated call blocks a worker while its gate is closed: if it has not
    // settled (it runs or will run), or if it was cancelled while running.
    const blocking = r.calls.filter(
      (call) => call.action === 'gated' && call.gate >= m.gate && (!call.future.done() || call.cancel?.state === 'running'),
    ).length;
    if (blocking >= r.size) {
      const ran = r.calls.filter((call) => SYNC_ACTIONS.has(call.action) && r.runs(call.index) > 0).map((call) => call.future);
      await within(
        Promise.allSettled(ran),
        SETTLE_DEADLINE_MS,
        `the synchronous calls that already ran to settle while all ${r.size} workers are blocked`,
      );
      r.checkStep();
      return;
    }
    const others = [
      ...r.calls.filter((call) => !(call.action === 'gated' && call.gate >= m.gate)).map((call) => call.future),
      ...r.batches.map((batch) => batch.result),
    ];
    await within(
      Promise.allSettled(others),
      SETTLE_DEADLINE_MS,
      `the calls not blocked on a gate to settle while ${blocking} of ${r.size} workers are blocked`,
    );
    r.checkStep();
  }
  toString(): string {
    return 'settleOthers';
  }
}

export class Close implements PoolCommand {
  check(m: Readonly<Model>): boolean {
    return !m.closed;
  }
  async run(m: Model, r: Real): Promise<void> {
    m.closed = true;
    // Blocked calls must end for close() to finish what was accepted.
    r.openGatesUpTo(m.gate);
    r.markUnsettledAtClose();
    await within(r.pool.close(), DEADLINE_MS, 'close()');
    r.checkStep();
  }
  toString(): string {
    return 'close';
  }
}

function actionArbitrary(backend: BackendName): fc.Arbitrary<Action> {
  const weighted: [Action, number][] = [
    ['quick', 4],
    ['slow', 1],
    ['wait', 1],
    ['gated', 2],
    ['throws', 1],
    ['exit', 1],
    ['uncaught', 1],
    ['hang', 1],
  ];
  if (backend === 'process') weighted.push(['kill', 1]);
  return fc.oneof(...weighted.map(([action, weight]) => ({ arbitrary: fc.constant(action), weight })));
}

export function commandsFor(backend: BackendName): fc.Arbitrary<Iterable<PoolCommand>> {
  const submit = fc.tuple(actionArbitrary(backend), fc.boolean()).map(([action, withTimeout]) => new Submit(action, withTimeout));
  const items = fc.array(fc.constantFrom<Action>('quick', 'slow', 'wait'), { minLength: 1, maxLength: 4 });
  const pause = fc.constantFrom(0, 10, 100).map((ms) => new Pause(ms));
  return fc.commands(
    [
      submit,
      submit,
      submit,
      fc.integer({ min: 5, max: 40 }).map((calls) => new Burst(calls)),
      items.map((actions) => new MapItems('map', actions)),
      items.map((actions) => new MapItems('imap', actions)),
      fc.nat(3).map((pick) => new Cancel(pick)),
      fc.nat(3).map((pick) => new Cancel(pick)),
      fc.constant(new OpenGate()),
      pause,
      pause,
      pause,
      fc.constant(new SettleOthers()),
      fc.constant(new Close()),
    ],
    { maxCommands: 16, size: 'medium' },
  );
}

/** The end of a run: close, then every outcome, run count and counter against the model. */
async function finish(m: Model, r: Real): Promise<void> {
  r.openGatesUpTo(m.gate);
  if (!m.closed) {
    m.closed = true;
    r.markUnsettledAtClose();
    await within(r.pool.close(), DEADLINE_MS, 'close()');
  }
  await within(
    Promise.allSettled([...r.calls.map((call) => call.future), ...r.batches.map((batch) => batch.result)]),
    DEADLINE_MS,
    'every call to settle',
  );

  let failed = 0;
  let cancelled = 0;
  const killed = r.calls.some((call) => call.action === 'kill');
  for (const call of r.calls) {
    const what = `call #${call.index} (${call.action})`;
    expect(r.log.settlements(call.future), `settlements of ${what}`).toBe(1);
    const outcome = r.log.outcome(call.future)!;
    const runs = r.runs(call.index);
    if (call.cancel !== null) {
      cancelled++;
      expect(outcome.status === 'rejected' && outcome.error instanceof CancelledError, `${what} rejects with CancelledError`).toBe(true);
      // Cancelled while pending (queued, or queued again for a retry): it never runs after the cancel.
      if (call.cancel.state === 'pending') expect(runs, `runs of ${what}, cancelled while pending`).toBe(call.cancel.ran);
      else expect(runs, `runs of ${what}, cancelled while running`).toBeLessThanOrEqual(call.cancel.ran + 1);
    } else if (isFaulty(call.action)) {
      failed++;
      // Or, beside a call that killed its process, it fails with what is known of it (callState).
      const unsure =
        killed && outcome.status === 'rejected' && outcome.error instanceof WorkerCrashedError && outcome.error.callState !== 'running';
      expect(
        unsure || (outcome.status === 'rejected' && outcome.error instanceof FAILS_WITH[call.action]),
        `${what} rejects with ${FAILS_WITH[call.action].name}, got ${outcomeText(outcome)}`,
      ).toBe(true);
      const bound = allowedRuns(outcome, r.retries);
      if (call.unsettledAtClose) {
        expect(runs, `runs of ${what} (close() came before it settled)`).toBeGreaterThanOrEqual(Math.min(1, bound?.min ?? 1));
        expect(runs, `runs of ${what} (close() came before it settled)`).toBeLessThanOrEqual(1 + r.retries);
      } else if (bound !== null) {
        expect(
          runs,
          `runs of ${what} with retries: ${r.retries}, ${outcome.status === 'rejected' ? outcome.error.callState : ''}`,
        ).toBeGreaterThanOrEqual(bound.min);
        expect(runs, `runs of ${what} with retries: ${r.retries}`).toBeLessThanOrEqual(bound.max);
      } else {
        expect(runs, `runs of ${what} with retries: ${r.retries}`).toBe(1 + r.retries);
      }
    } else {
      // A call whose worker was killed under it fails saying what is known of it
      // (callState: lost, unknown), and runs accordingly; else it fulfils, once.
      const bound = killed ? allowedRuns(outcome, r.retries) : null;
      if (bound !== null) {
        failed++;
        expect(runs, `runs of ${what}, ${outcome.status === 'rejected' ? outcome.error.callState : ''}`).toBeGreaterThanOrEqual(bound.min);
        expect(runs, `runs of ${what}`).toBeLessThanOrEqual(bound.max);
      } else {
        expect(outcome, `${what} fulfils with its index`).toEqual({ status: 'fulfilled', value: call.index });
        expect(runs, `runs of ${what}`).toBe(1);
      }
    }
  }
  for (const batch of r.batches) {
    const what = `${batch.kind} of calls ${batch.indexes.map((i) => `#${i}`).join(', ')}`;
    const result = await batch.result.then(
      (values) => values,
      (error: unknown) => error,
    );
    let ran = batch.indexes;
    if (batch.kind === 'imap' && result instanceof PoolClosedError) {
      // close() came while it was still pulling: what was read is a prefix, and only what was sent ran.
      expect(batch.indexes.slice(0, batch.values.length), `what the ${what} yielded before close()`).toEqual(batch.values);
      ran = batch.indexes.slice(0, batch.values.length);
      for (const index of batch.indexes.slice(batch.values.length + 1))
        expect(r.runs(index), `runs of #${index} in the ${what}, not pulled`).toBe(0);
    } else {
      expect(result, what).toEqual(batch.indexes);
    }
    for (const index of ran) expect(r.runs(index), `runs of #${index} in the ${what}`).toBe(1);
  }

  const stats = r.pool.stats();
  expect(stats, 'stats() after close()').toMatchObject({
    queued: 0,
    running: 0,
    workers: 0,
    failed,
    cancelled,
    completed: r.jobs - failed - cancelled,
  });
  if (r.backend === 'process') await eventually(() => childPids().length === 0, 'no worker process left after close()', DEADLINE_MS);
  // Deno cannot stop a thread deep in synchronous code: test/runtimes/differences.test.ts shows it.
  else if (runtime !== 'deno') await eventually(() => threadCount() <= r.threadsBefore, 'no worker thread left after close()', DEADLINE_MS);
}

function outcomeText(outcome: ReturnType<SettleLog['outcome']>): string {
  if (outcome === undefined) return 'nothing';
  return outcome.status === 'fulfilled'
    ? `the value ${JSON.stringify(outcome.value)}`
    : `${outcome.error?.name}: ${outcome.error?.message}`;
}

/**
 * How a run's pool starts: `lazy`, its workers start with the first calls;
 * `ready`, all of them first; `warm`, one worker has served 20 quick calls
 * one by one (a pool that learns call times then knows calls are short).
 */
export type Start = 'lazy' | 'ready' | 'warm';

/** One run: a fresh pool of `size` workers with `retries`, started as `start` says, the commands, then the final checks. */
export async function runSequence(
  backend: BackendName,
  size: number,
  retries: number,
  start: Start,
  commands: Iterable<PoolCommand>,
): Promise<void> {
  const real = new Real(backend, retries, size);
  const model: Model = { closed: false, gate: 0 };
  try {
    if (start === 'ready') await within(real.pool.ready(), DEADLINE_MS, 'ready()');
    for (let i = 0; start === 'warm' && i < 20; i++) {
      submitCall(model, real, 'quick', 0);
      await within(real.calls.at(-1)!.future, DEADLINE_MS, 'a warm-up call');
    }
    await fc.asyncModelRun(() => ({ model, real }), commands);
    await finish(model, real);
  } finally {
    real.openGatesUpTo(model.gate);
    await within(real.pool.terminate(), DEADLINE_MS, 'terminate()').catch(() => {});
  }
}
