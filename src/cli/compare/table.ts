import type { WorkloadReport } from './report.js';
import { formatBytes, formatMs, formatShare, formatSpeedup } from './format.js';

/** The terminal table of `tandem compare`: one block per workload, then its verdict. */

const HEADERS = ['model', 'wall', 'start-up', 'speedup', 'CPU (all cores)', 'pool busy', 'peak memory', 'memory/worker'];

function pad(cells: string[][]): string[] {
  const widths = HEADERS.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  // Text columns align left, numbers right.
  return cells.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
}

export function renderTable(workloads: WorkloadReport[]): string {
  const out: string[] = [];
  for (const w of workloads) {
    out.push(`${w.name} — ${w.title}: ${w.description}`);
    const rows = w.results.map((r) =>
      r.error !== null
        ? [r.label, 'failed', '', '', '', '', '', '']
        : [
            r.label,
            formatMs(r.wallMs),
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
    out.push(`  verdict: ${w.verdict.text}`, '');
  }
  return out.join('\n');
}
