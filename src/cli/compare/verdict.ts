import { formatRange, formatSpeedup } from './format.js';
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
  /** The model with the shortest median wall time. */
  winner: ModelName;
  /**
   * The models whose runs overlap the winner's (some run of theirs was as fast
   * as some run of the winner): the difference is within the spread, so the
   * verdict calls them too close to call. Empty when the winner is clear.
   */
  tiedWith: ModelName[];
  kind: WorkKind;
  /** Share of one core the sequential run kept busy (0..1), out of the share the machine could give (see MachineState). */
  sequentialCoreShare: number;
  /** Which model won, or which are too close to call, and why, in one line. */
  text: string;
  /** How sure the verdict is, from the spread of the runs, in one line ('' when nothing finished). */
  certainty: string;
}

const CPU_BOUND_ABOVE = 0.6;
const IO_BOUND_BELOW = 0.3;

export function classify(sequentialCoreShare: number): WorkKind {
  if (sequentialCoreShare >= CPU_BOUND_ABOVE) return 'CPU-bound';
  if (sequentialCoreShare <= IO_BOUND_BELOW) return 'I/O-bound';
  return 'mixed';
}

const times = (r: ModelResult | undefined): string => (r && r.error === null ? formatSpeedup(r.speedup) : 'failed');
const percent = (share: number): string => `${Math.round(share * 100)}%`;

/** "a", "a and b", "a, b and c". */
function list(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function autoPlacements(results: ModelResult[]): string {
  const auto = results.find((r) => r.model === 'auto');
  if (!auto || auto.placements.length === 0) return '';
  const where = auto.placements.map(
    (p) =>
      `${p.task} → ${
        p.backend === 'thread' ? 'threads' : p.backend === 'process' ? 'processes' : p.backend === 'inline' ? 'this event loop' : p.backend
      }`,
  );
  return `auto measured each task and sent ${where.join(', ')}`;
}

/** What the verdict knows of the machine. */
export interface MachineState {
  cores: number;
  /** 1-minute load average before the runs: above `cores`, other programs competed for the cores. */
  load: number;
  /**
   * Share of a core this process got just before each sequential run, the
   * median (see coreAvailability()). A CPU-bound run on a busy machine keeps its core
   * busy only as much as the machine lets it, so the measured share is
   * divided by this before it is classified.
   */
  coreAvailability: number;
}

/** The fastest model by median wall time, and the others whose runs overlap its runs (too close to call). */
export function standings(results: ModelResult[]): { best: ModelResult; tied: ModelResult[] } | null {
  const ok = results.filter((r) => r.error === null);
  if (ok.length === 0) return null;
  const best = ok.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
  return { best, tied: ok.filter((r) => r !== best && r.wallMinMs <= best.wallMaxMs) };
}

const runs = (n: number): string => (n === 1 ? 'one run' : `${n} runs`);

function binomial(n: number, k: number): number {
  let result = 1;
  for (let i = 1; i <= k; i++) result = (result * (n - k + i)) / i;
  return result;
}

/**
 * How sure the verdict is. When every run of the winner beat every run of the
 * others, the chance of that happening by luck, were the two equally fast, is
 * 2 / C(n + m, n) for n runs against m (both orders count): 1 in 10 for 3
 * runs each, 1 in 126 for 5. When runs overlap, nothing is claimed.
 */
export function certainty(best: ModelResult, tied: ModelResult[], others: ModelResult[]): string {
  const range = (r: ModelResult): string => `${r.label} ${formatRange(r.wallMinMs, r.wallMaxMs)}`;
  if (tied.length > 0) {
    return (
      `too close to call: the runs of ${list([best, ...tied].map(range))} overlap ` +
      `(${runs(best.runs)} each); run again with more --runs, or on a quieter machine, to separate them`
    );
  }
  if (others.length === 0) return `${best.label} was the only model that finished`;
  const fewest = Math.min(...others.map((r) => r.runs));
  if (best.runs < 2 || fewest < 2) return 'one run each, so the spread is unknown and the winner may be luck: use --runs 3 or more';
  const odds = Math.round(binomial(best.runs + fewest, best.runs) / 2);
  return (
    `clear: each of the ${best.runs} runs of ${best.label} (${formatRange(best.wallMinMs, best.wallMaxMs)}) beat every run of the ` +
    `others; ` +
    `models equally fast would do that about 1 time in ${odds}`
  );
}

export function verdict(results: ModelResult[], machine: MachineState): Verdict {
  const { cores, load } = machine;
  const by = (name: ModelName): ModelResult | undefined => results.find((r) => r.model === name);
  const sequential = by('sequential');
  const available = Math.min(1, Math.max(0.05, machine.coreAvailability));
  const rawShare = sequential ? Math.min(1, sequential.coresBusy) : 0;
  const sequentialCoreShare = Math.min(1, rawShare / available);
  const kind = classify(sequentialCoreShare);
  const standing = standings(results);
  if (standing === null) {
    const text =
      sequential?.error != null
        ? `the task failed when run sequentially (${sequential.error}); fix it or its inputs, then compare again`
        : 'every model failed: see the errors above';
    return { winner: 'sequential', tiedWith: [], kind, sequentialCoreShare, text, certainty: '' };
  }
  const { best, tied } = standing;
  const group = [best, ...tied];
  const clear = tied.length === 0;
  const names = group.map((r) => r.model);
  const headline = clear
    ? best.model === 'sequential'
      ? 'sequential won'
      : `${best.label} won, ${times(best)} as fast as sequential`
    : `${list(group.map((r) => r.label))} are too close to call (${list(group.map((r) => times(r)))} as fast as sequential)`;
  const busy =
    available < 0.9
      ? `run sequentially it kept one core ${percent(rawShare)} busy, ${percent(sequentialCoreShare)} of the ${percent(available)} of a ` +
        `core this busy machine gave it`
      : `run sequentially it kept one core ${percent(rawShare)} busy`;
  const placed = autoPlacements(results);
  const others = (among: ModelName[]): string =>
    among
      .filter((n) => !names.includes(n) && by(n))
      .map((n) => `${by(n)!.label} ${times(by(n))}`)
      .join(', ');
  const aside = (text: string): string => (text === '' ? '' : ` (${text})`);
  // No parallel model clearly ahead of sequential: sequential in the lead, or on
  // CPU-bound work async (inline), which is no parallelism there either.
  const noGain = names.includes('sequential') || (kind === 'CPU-bound' && names.includes('inline'));
  let why: string;
  if (noGain) {
    why =
      `no parallel model ${clear ? '' : 'clearly '}paid off here${aside(others(['thread', 'process', 'auto']))}; ` +
      (load > cores
        ? `the machine was busy with other work (load ${load.toFixed(1)} on ${cores} cores), so there were no idle cores for workers to ` +
          `use; run it again when it is quieter`
        : `the calls are too short for workers to earn back their start-up and copying; give each call more work`);
  } else if (kind === 'CPU-bound') {
    why =
      `the work is CPU-bound (${busy}), and one event loop runs JavaScript one call at a time, so async alone gains nothing ` +
      `(inline async ${times(by('inline'))}); worker threads (multithreading) and child processes (multiprocessing) each have their own ` +
      `event loop ` +
      `and use all ${cores} cores${aside(others(['thread', 'process', 'auto']))}` +
      (clear && best.model === 'thread' ? '; threads start faster and copy less than processes' : '') +
      (clear && best.model === 'process' ? '; processes cost more to start but each has its own heap' : '') +
      (placed ? `; ${placed}` : '');
  } else if (kind === 'I/O-bound') {
    const how = !clear
      ? `${list(group.map((r) => r.label))} overlapped them about equally well here`
      : best.model === 'thread' || best.model === 'process'
        ? `${best.label} overlapped them fastest here, which says that part of each call computes and a second core helped with it`
        : 'one event loop overlaps them with async I/O and starts no workers, while threads and processes overlap the same waits but pay ' +
          'to start and to copy every call';
    why =
      `the work is I/O-bound (${busy}; the rest is waiting), so what pays is overlapping the waits, not more cores: ` +
      `${how}${aside(others(['inline', 'thread', 'process', 'auto']))}` +
      (placed ? `; ${placed}` : '');
  } else {
    const how: Record<Exclude<ModelName, 'sequential'>, string> = {
      inline:
        'one event loop computed while the other calls waited, so the waiting cost nothing, and extra cores did not pay for their ' +
        'start-up here',
      thread: 'the worker threads computed on every core while their event loops overlapped the waits',
      process: 'the child processes computed on every core while their event loops overlapped the waits',
      auto: 'tandem put each kind where it fits, so the cores computed while the waits overlapped',
    };
    why =
      `the work is mixed (${busy}): its CPU-bound calls need more cores and its I/O-bound calls need their waits overlapped; ` +
      (clear
        ? how[best.model as Exclude<ModelName, 'sequential'>]
        : `${list(group.map((r) => r.label))} balanced the two about equally well here`) +
      (placed ? `; ${placed}` : '') +
      aside(others(['inline', 'thread', 'process', 'auto']));
  }
  const rest = results.filter((r) => r.error === null && !names.includes(r.model));
  return {
    winner: best.model,
    tiedWith: tied.map((r) => r.model),
    kind,
    sequentialCoreShare,
    text: `${headline}: ${why}`,
    certainty: certainty(best, tied, rest),
  };
}
