import type { ModelName, ModelResult, ModelRun } from './measure.js';

/**
 * Repeated runs of a model, and what they add up to.
 *
 * One run says little on a machine that does other things: a timer firing
 * late, another program's burst, a garbage collection can each move a run by
 * tens of percent. So every model runs each workload several times, in
 * rounds (one run of every model per round), and the order of the models
 * changes from round to round, so that a slow or quiet moment of the machine
 * does not always fall on the same model. A figure in the report is the
 * median of the runs (one odd run does not move it), and the fastest and
 * slowest runs give the spread that the verdict must beat (verdict.ts).
 */

/** The order of the models in round `round` (0-based): the first round as given, then rotated by one each round. */
export function roundOrder<T>(models: readonly T[], round: number): T[] {
  const shift = round % models.length;
  return [...models.slice(shift), ...models.slice(0, shift)];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : median(known);
}

/**
 * The runs of one model summed up: the median of each figure, the spread of
 * the wall times, auto's placements of its last run, and the first error (a
 * run that failed ends the model's runs, so it is the last one).
 */
export function summarise(runs: readonly ModelRun[]): ModelResult {
  if (runs.length === 0) throw new RangeError('summarise() needs at least one run');
  const last = runs[runs.length - 1];
  const ok = runs.filter((r) => r.error === null);
  // A failed run's figures are partial: the figures come from the runs that finished, if any did.
  const measured = ok.length > 0 ? ok : runs;
  const wallRunsMs = measured.map((r) => r.wallMs);
  const of = (figure: (r: ModelRun) => number): number => median(measured.map(figure));
  return {
    model: last.model,
    label: last.label,
    runs: runs.length,
    wallRunsMs,
    wallMs: median(wallRunsMs),
    wallMinMs: Math.min(...wallRunsMs),
    wallMaxMs: Math.max(...wallRunsMs),
    startupMs: of((r) => r.startupMs),
    speedup: NaN,
    cpuMs: of((r) => r.cpuMs),
    cpuShare: of((r) => r.cpuShare),
    coresBusy: of((r) => r.coresBusy),
    poolUtilisation: medianOrNull(measured.map((r) => r.poolUtilisation)),
    peakMemoryBytes: of((r) => r.peakMemoryBytes),
    memoryPerWorkerBytes: medianOrNull(measured.map((r) => r.memoryPerWorkerBytes)),
    workers: Math.max(...measured.map((r) => r.workers)),
    calls: last.calls,
    placements: last.placements,
    error: runs.find((r) => r.error !== null)?.error ?? null,
  };
}

/** Fills in each result's speedup: the sequential median over its median (NaN where either failed). */
export function fillSpeedups(results: ModelResult[]): void {
  const sequential = results.find((r) => r.model === ('sequential' satisfies ModelName));
  for (const r of results) {
    r.speedup = r.error === null && sequential !== undefined && sequential.error === null ? sequential.wallMs / r.wallMs : NaN;
  }
}
