/** Number formats shared by the terminal table and the HTML report. */

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

export function formatBytes(bytes: number | null): string {
  if (bytes === null || !Number.isFinite(bytes)) return '—';
  const mb = bytes / (1024 * 1024);
  return mb >= 100 ? `${Math.round(mb)} MB` : `${mb.toFixed(1)} MB`;
}

export function formatShare(share: number | null): string {
  if (share === null || !Number.isFinite(share)) return '—';
  return `${Math.round(share * 100)}%`;
}

export function formatSpeedup(speedup: number): string {
  return Number.isFinite(speedup) ? `${speedup.toFixed(2)}×` : '—';
}

/** The fastest–slowest span of a model's runs, in one unit: "480–560 ms", "1.02–1.21 s". */
export function formatRange(minMs: number, maxMs: number): string {
  if (!Number.isFinite(minMs) || !Number.isFinite(maxMs)) return '—';
  if (maxMs >= 1000) return `${(minMs / 1000).toFixed(2)}–${(maxMs / 1000).toFixed(2)} s`;
  return `${Math.round(minMs)}–${Math.round(maxMs)} ms`;
}
