import { availableParallelism } from 'node:os';
import { IO_FANOUT } from '../../auto/router.js';
import { Pool, type PoolOptions } from '../../index.js';
import type { Batch, Workload } from '../workloads.js';
import { PeakSampler, cpuMilliseconds, residentBytes } from './resources.js';

/**
 * Runs one workload under one execution model once and measures it (the
 * command repeats it, see runs.ts).
 *
 * Every model gets the same budget: `size` workers and `inFlight` calls at
 * once in total (what async tasks can overlap). A pool is
 * started and made ready (`pool.ready()`) inside the measurement, so wall time
 * is what a user waits for, start-up included; start-up is also reported on
 * its own. Items go one per message (chunksize 1): items of a chunk run one
 * after another in a worker, which would stop async items from overlapping.
 */

export type ModelName = 'sequential' | 'inline' | 'thread' | 'process' | 'auto';

export const MODELS: readonly { name: ModelName; label: string }[] = [
  { name: 'sequential', label: 'sequential' },
  { name: 'inline', label: 'inline async' },
  { name: 'thread', label: 'threads' },
  { name: 'process', label: 'processes' },
  { name: 'auto', label: 'auto' },
];

export interface RunSettings {
  /** Workers of each pool (`--size`). */
  size: number;
  /** Calls in flight at once in total, for every model (`--in-flight`). */
  inFlight: number;
  /** Runs of each model on each workload (`--runs`). */
  runs: number;
}

/** Where `auto` put a task, and why (from `pool.explain(task)`). */
export interface Placement {
  task: string;
  backend: string;
  reason: string;
  cpuShare: number;
}

/** One run of one model on one workload. */
export interface ModelRun {
  model: ModelName;
  label: string;
  /** Start to last result, ms (start-up included). */
  wallMs: number;
  /** Pool creation until its workers served, ms (0 for sequential). */
  startupMs: number;
  /** CPU time of this process, its threads and its child processes, ms. */
  cpuMs: number;
  /** cpuMs / (span × cores): share of the whole machine used, 0..1. */
  cpuShare: number;
  /** cpuMs / span: how many cores were busy on average. */
  coresBusy: number;
  /** `pool.stats().utilisation`: share of worker time spent running tasks; null without a pool. */
  poolUtilisation: number | null;
  peakMemoryBytes: number;
  /** (peak − memory before the run) / workers; null when no worker was started. */
  memoryPerWorkerBytes: number | null;
  workers: number;
  calls: number;
  placements: Placement[];
  /** Set when the run failed (a task threw); the figures are then partial. */
  error: string | null;
}

/** A model's runs on one workload, summed up (runs.ts): each figure is the median of its runs. */
export interface ModelResult extends ModelRun {
  /** Runs measured (fewer than asked when one failed). */
  runs: number;
  /** Wall time of each run, ms, in the order they ran; `wallMs` is their median. */
  wallRunsMs: number[];
  /** The fastest and the slowest run: the spread a verdict must beat before it names a winner. */
  wallMinMs: number;
  wallMaxMs: number;
  /** Sequential median wall time / this median wall time (filled in by the caller). */
  speedup: number;
}

function poolOptions(model: Exclude<ModelName, 'sequential'>, settings: RunSettings): PoolOptions {
  const perWorker = Math.max(1, Math.ceil(settings.inFlight / settings.size));
  // auto runs I/O-bound tasks inline with IO_FANOUT × size × concurrencyPerWorker
  // calls at once: scale it down so that it gets the same budget, not 16 times more.
  const concurrencyPerWorker = model === 'auto' ? Math.max(1, Math.ceil(perWorker / IO_FANOUT)) : perWorker;
  return { backend: model, size: settings.size, concurrencyPerWorker, idleTimeout: Infinity };
}

/** Pools running now, so that Ctrl-C can stop their workers before the process exits. */
const activePools = new Set<Pool>();

/** Stops the workers of the pool being measured (Ctrl-C). */
export async function terminateActivePools(): Promise<void> {
  await Promise.all([...activePools].map((pool) => pool.terminate()));
}

async function runSequential(batches: Batch[]): Promise<number> {
  let calls = 0;
  for (const batch of batches) {
    for (const input of batch.inputs) {
      await batch.task(input);
      calls++;
    }
  }
  return calls;
}

export async function measureModel(model: ModelName, workload: Workload, settings: RunSettings): Promise<ModelRun> {
  const label = MODELS.find((m) => m.name === model)!.label;
  let pool: Pool | null = null;
  const before = residentBytes().total;
  const cpuBefore = cpuMilliseconds();
  const sampler = new PeakSampler(() => pool?.stats().workers ?? 0);
  const started = performance.now();
  let startupMs = 0;
  let calls = 0;
  let error: string | null = null;
  let poolUtilisation: number | null = null;
  const placements: Placement[] = [];
  let finished = started;
  try {
    if (model === 'sequential') {
      calls = await runSequential(workload.batches);
    } else {
      pool = new Pool(poolOptions(model, settings));
      activePools.add(pool);
      await pool.ready();
      startupMs = performance.now() - started;
      const active = pool;
      const results = await Promise.all(workload.batches.map((b) => active.map(b.task, b.inputs, { chunksize: 1 })));
      calls = results.reduce((n, r) => n + r.length, 0);
    }
  } catch (failure) {
    // A TaskError's message already starts with the remote error's name; a local throw (sequential) gets it here.
    error = failure instanceof Error ? ('code' in failure ? failure.message : `${failure.name}: ${failure.message}`) : String(failure);
  }
  finished = performance.now();
  sampler.stop();
  if (pool !== null) {
    const stats = pool.stats();
    poolUtilisation = stats.utilisation;
    if (model === 'auto') {
      for (const batch of workload.batches) {
        const why = pool.explain(batch.task);
        placements.push({ task: batch.label, backend: why.backend, reason: why.reason, cpuShare: why.cpuShare });
      }
    }
    // Close before reading CPU: child processes' CPU time is known once they have exited.
    await pool.close();
    activePools.delete(pool);
  }
  const span = performance.now() - started;
  const cpuMs = cpuMilliseconds() - cpuBefore;
  const cores = availableParallelism();
  const workers = sampler.peakWorkers;
  return {
    model,
    label,
    wallMs: finished - started,
    startupMs,
    cpuMs,
    cpuShare: cpuMs / (span * cores),
    coresBusy: cpuMs / span,
    poolUtilisation,
    peakMemoryBytes: sampler.peakBytes,
    memoryPerWorkerBytes: workers > 0 && model !== 'inline' ? Math.max(0, sampler.peakBytes - before) / workers : null,
    workers,
    calls,
    placements,
    error,
  };
}
