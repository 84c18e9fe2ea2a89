import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time and memory of this process *and its child processes*.
 *
 * `process.cpuUsage()` and `process.memoryUsage()` cover this process with
 * all its threads (worker_threads live in it), but not child processes, which
 * the `process` backend starts. On Linux /proc gives the rest: the resident
 * memory of each live child, and the CPU time of children that have exited
 * and been reaped (`cutime`/`cstime` of /proc/self/stat), which is why the CPU
 * of a run is read after its pool has closed. Elsewhere children are not
 * counted and the report says so.
 */

export const childrenVisible = process.platform === 'linux';

// Linux reports times in clock ticks; USER_HZ is 100 on every mainstream kernel.
const TICKS_PER_SECOND = 100;

/** CPU milliseconds spent so far by this process and its reaped children. */
export function cpuMilliseconds(): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1000 + reapedChildrenCpuMs();
}

function reapedChildrenCpuMs(): number {
  if (!childrenVisible) return 0;
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Field 16 (cutime) and 17 (cstime) of proc(5); this array starts at field 3.
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * Share of one core this thread gets right now (0..1): a busy loop for
 * `wallMs`, then its CPU time over its wall time. On an idle machine it is
 * about 1; when other programs compete for the cores it drops, and so does
 * the CPU share any run measures, which the verdict corrects for.
 */
export function coreAvailability(wallMs = 150): number {
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  while (performance.now() - start < wallMs) {
    // Spin: the point is to want the CPU all the time and see how much of it we get.
  }
  const cpu = process.cpuUsage(cpuStart);
  const share = (cpu.user + cpu.system) / 1000 / (performance.now() - start);
  return Math.min(1, Math.max(0.05, share));
}

/** Resident memory of this process plus its live children, bytes. */
export function residentBytes(): { total: number; children: number } {
  const own = process.memoryUsage.rss();
  const children = childrenResidentBytes();
  return { total: own + children, children };
}

function childPids(): number[] {
  try {
    // Children forked by the main thread (libuv spawns from it).
    const text = readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim();
    if (text !== '') return text.split(' ').map(Number);
    return [];
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: scan /proc for our children.
    const pids: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === process.pid) pids.push(Number(name));
      } catch {
        // It exited while we looked.
      }
    }
    return pids;
  }
}

function childrenResidentBytes(): number {
  if (!childrenVisible) return 0;
  let bytes = 0;
  for (const pid of childPids()) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) bytes += Number(match[1]) * 1024;
    } catch {
      // It exited while we looked.
    }
  }
  return bytes;
}

/**
 * Samples memory (and a worker count) every `intervalMs` while a run goes on,
 * keeping the peaks. Samples are taken on this event loop, so a run that
 * blocks it (sequential, inline) is sampled before and after only: its peak is
 * then a lower bound, but such runs start no workers.
 */
export class PeakSampler {
  peakBytes = 0;
  peakChildrenBytes = 0;
  peakWorkers = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly workers: () => number,
    intervalMs = 25,
  ) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  sample(): void {
    const { total, children } = residentBytes();
    if (total > this.peakBytes) this.peakBytes = total;
    if (children > this.peakChildrenBytes) this.peakChildrenBytes = children;
    const workers = this.workers();
    if (workers > this.peakWorkers) this.peakWorkers = workers;
  }

  stop(): void {
    this.sample();
    clearInterval(this.#timer);
  }
}
