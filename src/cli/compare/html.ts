import type { ModelName } from './measure.js';
import type { CompareReport, WorkloadReport } from './report.js';
import { formatBytes, formatMs, formatRange, formatShare, formatSpeedup } from './format.js';

/**
 * The HTML report of `tandem compare`: one self-contained file (inline CSS,
 * inline SVG charts, no script, nothing fetched), so it opens offline and can
 * be mailed or attached to an issue as it is.
 */

const COLORS: Record<ModelName, string> = {
  sequential: '#8d99ae',
  inline: '#2a9d8f',
  thread: '#457b9d',
  process: '#e76f51',
  auto: '#7b2cbf',
};

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

interface Bar {
  label: string;
  value: number;
  text: string;
  color: string;
  bold: boolean;
}

/** A horizontal bar chart; bars scale to the largest value. */
function barChart(title: string, bars: Bar[]): string {
  const labelWidth = 110;
  const barWidth = 300;
  const rowHeight = 26;
  const width = labelWidth + barWidth + 110;
  const height = 28 + bars.length * rowHeight;
  const max = Math.max(...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)), 1e-9);
  const rows = bars.map((b, i) => {
    const y = 24 + i * rowHeight;
    const w = Number.isFinite(b.value) ? Math.max(1, (b.value / max) * barWidth) : 0;
    const weight = b.bold ? ' font-weight="bold"' : '';
    return (
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end"${weight}>${escapeHtml(b.label)}</text>` +
      `<rect x="${labelWidth}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 8}" rx="3" fill="${b.color}"/>` +
      `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 15}"${weight}>${escapeHtml(b.text)}</text>`
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" ` +
    `aria-label="${escapeHtml(title)}">` +
    `<text x="0" y="14" font-weight="bold">${escapeHtml(title)}</text>${rows.join('')}</svg>`
  );
}

function workloadSection(w: WorkloadReport): string {
  const ok = w.results.filter((r) => r.error === null);
  // The winner, or every model too close to call with it.
  const lead = (model: ModelName): boolean => model === w.verdict.winner || w.verdict.tiedWith.includes(model);
  const bar = (value: (r: (typeof ok)[number]) => number, text: (r: (typeof ok)[number]) => string): Bar[] =>
    ok.map((r) => ({ label: r.label, value: value(r), text: text(r), color: COLORS[r.model], bold: lead(r.model) }));
  const charts = [
    barChart(
      'Wall time, median (shorter is better)',
      bar(
        (r) => r.wallMs,
        (r) => `${formatMs(r.wallMs)} (${formatRange(r.wallMinMs, r.wallMaxMs)})`,
      ),
    ),
    barChart(
      'Speedup over sequential',
      bar(
        (r) => r.speedup,
        (r) => formatSpeedup(r.speedup),
      ),
    ),
    barChart(
      'Cores busy (CPU time / wall time)',
      bar(
        (r) => r.coresBusy,
        (r) => `${r.coresBusy.toFixed(2)} cores`,
      ),
    ),
    barChart(
      'Peak memory (this process + children)',
      bar(
        (r) => r.peakMemoryBytes,
        (r) => formatBytes(r.peakMemoryBytes),
      ),
    ),
  ];
  const rows = w.results
    .map((r) =>
      r.error !== null
        ? `<tr><td>${escapeHtml(r.label)}</td><td colspan="8">failed: ${escapeHtml(r.error)}</td></tr>`
        : `<tr${lead(r.model) ? ' class="won"' : ''}><td>${escapeHtml(r.label)}</td><td>${formatMs(r.wallMs)}</td>` +
          `<td>${formatRange(r.wallMinMs, r.wallMaxMs)}</td>` +
          `<td>${r.model === 'sequential' ? '—' : formatMs(r.startupMs)}</td><td>${formatSpeedup(r.speedup)}</td>` +
          `<td>${formatShare(r.cpuShare)} (${r.coresBusy.toFixed(1)} cores)</td><td>${formatShare(r.poolUtilisation)}</td>` +
          `<td>${formatBytes(r.peakMemoryBytes)}</td><td>${formatBytes(r.memoryPerWorkerBytes)}</td></tr>`,
    )
    .join('');
  const placements = w.results
    .flatMap((r) => r.placements)
    .map((p) => `<li><code>${escapeHtml(p.task)}</code> → <b>${escapeHtml(p.backend)}</b>: ${escapeHtml(p.reason)}</li>`)
    .join('');
  return (
    `<section id="${escapeHtml(w.name)}">
<h2>${escapeHtml(w.name)} — ${escapeHtml(w.title)}</h2>
<p>${escapeHtml(w.description)}.</p>
<p class="verdict">${escapeHtml(w.verdict.text)}${
      w.verdict.certainty ? `<br><span class="muted">How sure: ${escapeHtml(w.verdict.certainty)}.</span>` : ''
    }</p>
<table><thead><tr><th>model</th><th>wall (median)</th><th>fastest–slowest</th><th>start-up</th><th>speedup</th><th>CPU (all ` +
    `cores)</th><th>pool busy</th><th>peak memory</th><th>memory/worker</th></tr></thead>
<tbody>${rows}</tbody></table>
${placements ? `<p>What <code>auto</code> decided (<code>pool.explain(task)</code>):</p><ul>${placements}</ul>` : ''}
<div class="charts">${charts.join('\n')}</div>
</section>`
  );
}

/** One row per workload: its measured kind and the model that won (or the models too close to call). */
function summary(workloads: WorkloadReport[]): string {
  const rows = workloads
    .map((w) => {
      const winner = w.results.find((r) => r.model === w.verdict.winner);
      const tied = w.verdict.tiedWith.map((m) => w.results.find((r) => r.model === m)?.label ?? m);
      const fastest = tied.length === 0 ? (winner?.label ?? '—') : `${[winner?.label ?? '—', ...tied].join(' ≈ ')} (too close to call)`;
      return (
        `<tr><td><a href="#${escapeHtml(w.name)}">${escapeHtml(w.name)}</a></td><td>${escapeHtml(w.verdict.kind)}</td>` +
        `<td>${escapeHtml(fastest)}</td><td>${winner ? formatSpeedup(winner.speedup) : '—'}</td></tr>`
      );
    })
    .join('');
  return (
    `<table><thead><tr><th>workload</th><th>measured ` +
    `as</th><th>fastest</th><th>speedup</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}

export function renderHtml(report: CompareReport): string {
  const m = report.machine;
  const s = report.settings;
  return (
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tandem compare — ${escapeHtml(report.createdAt)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1d2330; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; margin: 0.8rem 0; } th, td { padding: 0.25rem 0.7rem; text-align: right; border-bottom: 1px solid ` +
    `#e3e6ee; }
th:first-child, td:first-child { text-align: left; } tr.won td { font-weight: bold; background: #f1f7ee; }
.verdict { background: #f4f1fa; border-left: 4px solid #7b2cbf; padding: 0.5rem 0.8rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem 2rem; } svg { font: 12px system-ui, sans-serif; }
.muted { color: #5c6475; }
</style></head><body>
<h1>tandem compare</h1>
<p class="muted">${escapeHtml(report.createdAt)} · ${m.cores} cores (${escapeHtml(m.cpuModel)}) · ${formatBytes(m.totalMemoryBytes)} RAM ·
${escapeHtml(m.platform)}/${escapeHtml(m.arch)} · Node ${escapeHtml(m.node)} · load ${m.loadAverageBefore.toFixed(1)} → ` +
    `${m.loadAverageAfter.toFixed(1)} · ${s.size} workers, ${s.inFlight} calls in flight, ${s.runs} run(s) of each model${
      s.quick ? ' · --quick' : ''
    }</p>
<p>Each workload ran under every model with the same budget. <b>sequential</b>: one call after another on this thread.
<b>inline async</b>: this event loop, calls overlapping while they wait. <b>threads</b>: worker_threads (multithreading).
<b>processes</b>: child processes (multiprocessing). <b>auto</b>: tandem measured each task and chose.
Node has no GIL, but its event loop plays the same part: JavaScript on one thread runs one call at a time, so async
overlaps waiting but never computation; worker threads and processes each run their own event loop on another core.</p>
<p class="muted">Each model ran each workload ${s.runs} time(s), in rounds whose order rotates, so that a busy moment of the
machine does not always fall on the same model. Every figure is the median of the runs; fastest–slowest is the spread of their wall times.
A verdict names a winner only when each of its runs beat every run of the other models; otherwise it says which are too close to call.
Wall time includes starting the workers. CPU is the time of this process, its threads${
      s.childProcessesMeasured ? ' and its child processes' : ' (child processes are not measured on this platform)'
    },
divided by wall time × cores. Pool busy is <code>pool.stats().utilisation</code>. Memory per worker is (peak − memory before the run) / ` +
    `workers.</p>
${summary(report.workloads)}
${report.workloads.map(workloadSection).join('\n')}
</body></html>
`
  );
}
