import { arch, availableParallelism, cpus, loadavg, platform, totalmem } from 'node:os';
import type { ModelResult, RunSettings } from './measure.js';
import { childrenVisible } from './resources.js';
import type { Verdict } from './verdict.js';

/**
 * The shape of compare's JSON file (and what the table and HTML are drawn
 * from). `schema` changes when a field changes meaning: 2 made every figure
 * of a model the median of its runs, added the runs and their spread, and
 * renamed settings.workers to settings.size.
 */

export interface WorkloadReport {
  name: string;
  title: string;
  description: string;
  /** Calls in one run of the workload. */
  calls: number;
  /** Share of a core this process got just before each sequential run, the median (1 on an idle machine). */
  coreAvailability: number;
  results: ModelResult[];
  verdict: Verdict;
}

export interface CompareReport {
  tool: 'tandem compare';
  schema: 2;
  createdAt: string;
  machine: {
    cores: number;
    cpuModel: string;
    totalMemoryBytes: number;
    platform: string;
    arch: string;
    node: string;
    /** 1-minute load average before and after the runs: above `cores`, other programs competed for the CPU. */
    loadAverageBefore: number;
    loadAverageAfter: number;
  };
  settings: RunSettings & {
    quick: boolean;
    /** Whether child processes' CPU and memory are counted (Linux /proc). */
    childProcessesMeasured: boolean;
  };
  workloads: WorkloadReport[];
}

export function newReport(settings: RunSettings, quick: boolean): CompareReport {
  return {
    tool: 'tandem compare',
    schema: 2,
    createdAt: new Date().toISOString(),
    machine: {
      cores: availableParallelism(),
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      totalMemoryBytes: totalmem(),
      platform: platform(),
      arch: arch(),
      node: process.version,
      loadAverageBefore: loadavg()[0],
      loadAverageAfter: loadavg()[0],
    },
    settings: { ...settings, quick, childProcessesMeasured: childrenVisible },
    workloads: [],
  };
}
