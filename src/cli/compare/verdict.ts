import type { ModelName, ModelResult } from './measure.js';

/**
 * The one-line verdict of a workload: which model won, and why, in the terms
 * of the choice between multiprocessing and multithreading.
 *
 * The kind of work is measured, not assumed: run sequentially, a CPU-bound
 * workload keeps its one core busy nearly all the time, an I/O-bound one
 * leaves it idle while it waits. Node has no GIL, but its event loop plays the
 * same part: JavaScript on one thread runs one call at a time (async only
 * overlaps the *waiting*), while each worker thread or child process has an
 * event loop of its own and runs in parallel on another core.
 */

export type WorkKind = 'CPU-bound' | 'I/O-bound' | 'mixed';

export interface Verdict {
  winner: ModelName;
  kind: WorkKind;
  /** Share of one core the sequential run kept busy (0..1), out of the share the machine could give (see MachineState). */
  sequentialCoreShare: number;
  text: string;
}

const CPU_BOUND_ABOVE = 0.6;
const IO_BOUND_BELOW = 0.3;

export function classify(sequentialCoreShare: number): WorkKind {
  if (sequentialCoreShare >= CPU_BOUND_ABOVE) return 'CPU-bound';
  if (sequentialCoreShare <= IO_BOUND_BELOW) return 'I/O-bound';
  return 'mixed';
}

const times = (r: ModelResult | undefined): string => (r && r.error === null ? `${r.speedup.toFixed(1)}×` : 'failed');
const percent = (share: number): string => `${Math.round(share * 100)}%`;

function autoPlacements(results: ModelResult[]): string {
  const auto = results.find((r) => r.model === 'auto');
  if (!auto || auto.placements.length === 0) return '';
  const where = auto.placements.map((p) => `${p.task} → ${p.backend === 'thread' ? 'threads' : p.backend === 'process' ? 'processes' : p.backend === 'inline' ? 'this event loop' : p.backend}`);
  return `auto measured each task and sent ${where.join(', ')}`;
}

/** What the verdict knows of the machine. */
export interface MachineState {
  cores: number;
  /** 1-minute load average before the runs: above `cores`, other programs competed for the cores. */
  load: number;
  /**
   * Share of a core this process got just before the sequential run (see
   * coreAvailability()). A CPU-bound run on a busy machine keeps its core
   * busy only as much as the machine lets it, so the measured share is
   * divided by this before it is classified.
   */
  coreAvailability: number;
}

export function verdict(results: ModelResult[], machine: MachineState): Verdict {
  const { cores, load } = machine;
  const by = (name: ModelName): ModelResult | undefined => results.find((r) => r.model === name);
  const sequential = by('sequential');
  const available = Math.min(1, Math.max(0.05, machine.coreAvailability));
  const sequentialCoreShare = sequential ? Math.min(1, sequential.coresBusy / available) : 0;
  const kind = classify(sequentialCoreShare);
  const ok = results.filter((r) => r.error === null);
  if (ok.length === 0) {
    const text = sequential?.error != null ? `the task failed when run sequentially (${sequential.error}); fix it or its inputs, then compare again` : 'every model failed: see the errors above';
    return { winner: 'sequential', kind, sequentialCoreShare, text };
  }
  const best = ok.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
  const won = best.model === 'sequential' ? 'sequential won' : `${best.label} won, ${times(best)} as fast as sequential`;
  const busy =
    available < 0.9
      ? `run sequentially it kept one core ${percent(sequentialCoreShare)} busy, counting only the ${percent(available)} of a core this busy machine gave it`
      : `run sequentially it kept one core ${percent(sequentialCoreShare)} busy`;
  const placed = autoPlacements(results);
  const others = (names: ModelName[]): string =>
    names
      .filter((n) => n !== best.model && by(n))
      .map((n) => `${by(n)!.label} ${times(by(n))}`)
      .join(', ');
  let text: string;
  if (best.model === 'sequential' || (best.model === 'inline' && kind === 'CPU-bound')) {
    text =
      `${won}: no parallel model paid off here (${others(['thread', 'process', 'auto'])}); ` +
      (load > cores
        ? `the machine was busy with other work (load ${load.toFixed(1)} on ${cores} cores), so there were no idle cores for workers to use; run it again when it is quieter`
        : `the calls are too short for workers to earn back their start-up and copying; give each call more work`);
  } else if (kind === 'CPU-bound') {
    text =
      `${won}: the work is CPU-bound (${busy}), and one event loop runs JavaScript one call at a time, so async alone gains nothing ` +
      `(inline async ${times(by('inline'))}); worker threads (multithreading) and child processes (multiprocessing) each have their own event loop ` +
      `and use all ${cores} cores (${others(['thread', 'process', 'auto'])})` +
      (best.model === 'thread' ? '; threads start faster and copy less than processes' : '') +
      (best.model === 'process' ? '; processes cost more to start but each has its own heap' : '') +
      (placed ? `; ${placed}` : '');
  } else if (kind === 'I/O-bound') {
    const why =
      best.model === 'thread' || best.model === 'process'
        ? `${best.label} overlapped them fastest here, which says that part of each call computes and a second core helped with it`
        : 'one event loop overlaps them with async I/O and starts no workers, while threads and processes overlap the same waits but pay to start and to copy every call';
    text =
      `${won}: the work is I/O-bound (${busy}; the rest is waiting), so what pays is overlapping the waits, not more cores: ` +
      `${why} (${others(['inline', 'thread', 'process', 'auto'])})` +
      (placed ? `; ${placed}` : '');
  } else {
    const how: Record<Exclude<ModelName, 'sequential'>, string> = {
      inline: 'one event loop computed while the other calls waited, so the waiting cost nothing, and extra cores did not pay for their start-up here',
      thread: 'the worker threads computed on every core while their event loops overlapped the waits',
      process: 'the child processes computed on every core while their event loops overlapped the waits',
      auto: 'tandem put each kind where it fits, so the cores computed while the waits overlapped',
    };
    text =
      `${won}: the work is mixed (${busy}): its CPU-bound calls need more cores and its I/O-bound calls need their waits overlapped; ` +
      `${how[best.model as Exclude<ModelName, 'sequential'>]}` +
      (placed ? `; ${placed}` : '') +
      ` (${others(['inline', 'thread', 'process', 'auto'])})`;
  }
  return { winner: best.model, kind, sequentialCoreShare, text };
}
