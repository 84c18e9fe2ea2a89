import type { WorkloadReport } from './report.js';
import { formatBytes, formatMs, formatRange, formatShare, formatSpeedup } from './format.js';

/**
 * The terminal table of `tandem compare`: one block per workload, then its
 * verdict and how sure it is. Wall time is the median of the runs, beside
 * the range from the fastest run to the slowest: the verdict names a winner
 * only where those ranges do not overlap, so it can be checked by eye.
 */

const HEADERS = [
  'model',
  'wall (median)',
  'fastest–slowest',
  'start-up',
  'speedup',
  'CPU (all cores)',
  'pool busy',
  'peak memory',
  'memory/worker',
];

function pad(cells: string[][]): string[] {
  const widths = HEADERS.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  // Text columns align left, numbers right.
  return cells.map((row) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

export function renderTable(workloads: WorkloadReport[]): string {
  const out: string[] = [];
  for (const w of workloads) {
    const runs = Math.max(...w.results.map((r) => r.runs));
    out.push(`${w.name} — ${w.title}: ${w.description}; ${runs === 1 ? 'one run' : `${runs} runs`} of each model`);
    const rows = w.results.map((r) =>
      r.error !== null
        ? [r.label, 'failed', '', '', '', '', '', '', '']
        : [
            r.label,
            formatMs(r.wallMs),
            formatRange(r.wallMinMs, r.wallMaxMs),
            r.model === 'sequential' ? '—' : formatMs(r.startupMs),
            formatSpeedup(r.speedup),
            `${formatShare(r.cpuShare)} (${r.coresBusy.toFixed(1)} cores)`,
            formatShare(r.poolUtilisation),
            formatBytes(r.peakMemoryBytes),
            formatBytes(r.memoryPerWorkerBytes),
          ],
    );
    for (const line of pad([HEADERS, ...rows])) out.push(`  ${line}`);
    for (const r of w.results) if (r.error !== null) out.push(`  ${r.label} failed: ${r.error}`);
    out.push(`  verdict: ${w.verdict.text}`);
    if (w.verdict.certainty !== '') out.push(`  how sure: ${w.verdict.certainty}`);
    out.push('');
  }
  return out.join('\n');
}
