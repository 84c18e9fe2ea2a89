// The verdict's logic on fixed figures (the CLI tests cannot steer timings).
import { describe, expect, it } from 'vitest';
import type { ModelName, ModelResult } from '../../src/cli/compare/measure.js';
import { classify, verdict } from '../../src/cli/compare/verdict.js';

const LABELS: Record<ModelName, string> = { sequential: 'sequential', inline: 'inline async', thread: 'threads', process: 'processes', auto: 'auto' };

function results(wallMs: Record<ModelName, number>, sequentialCores: number, placements: ModelResult['placements'] = []): ModelResult[] {
  return (Object.keys(wallMs) as ModelName[]).map((model) => ({
    model,
    label: LABELS[model],
    wallMs: wallMs[model],
    startupMs: 0,
    speedup: wallMs.sequential / wallMs[model],
    cpuMs: 0,
    cpuShare: 0,
    coresBusy: model === 'sequential' ? sequentialCores : 1,
    poolUtilisation: null,
    peakMemoryBytes: 1,
    memoryPerWorkerBytes: null,
    workers: 0,
    calls: 10,
    placements: model === 'auto' ? placements : [],
    error: null,
  }));
}

const idle = { cores: 2, load: 0.2, coreAvailability: 1 };

describe('compare verdict', () => {
  it('classifies work by how busy the sequential run kept its core', () => {
    expect(classify(0.97)).toBe('CPU-bound');
    expect(classify(0.04)).toBe('I/O-bound');
    expect(classify(0.45)).toBe('mixed');
  });

  it('CPU-bound: workers win, because one event loop runs one call at a time', () => {
    const v = verdict(results({ sequential: 1000, inline: 1000, thread: 520, process: 600, auto: 540 }, 0.98), idle);
    expect(v).toMatchObject({ winner: 'thread', kind: 'CPU-bound' });
    expect(v.text).toMatch(/^threads won, 1\.9× as fast as sequential: the work is CPU-bound/);
    expect(v.text).toContain('one event loop runs JavaScript one call at a time');
    expect(v.text).not.toContain('\n');
  });

  it('I/O-bound: one event loop wins by overlapping the waits', () => {
    const v = verdict(results({ sequential: 900, inline: 30, thread: 150, process: 400, auto: 120 }, 0.03, [
      { task: 'fetch', backend: 'inline', reason: 'I/O-bound', cpuShare: 0.02 },
    ]), idle);
    expect(v).toMatchObject({ winner: 'inline', kind: 'I/O-bound' });
    expect(v.text).toContain('overlapping the waits, not more cores');
    expect(v.text).toContain('fetch → this event loop');
  });

  it('mixed: says where auto put each task', () => {
    const v = verdict(results({ sequential: 900, inline: 500, thread: 450, process: 600, auto: 300 }, 0.45, [
      { task: 'countPrimes', backend: 'thread', reason: 'CPU-bound', cpuShare: 0.99 },
      { task: 'readAndWait', backend: 'inline', reason: 'I/O-bound', cpuShare: 0.02 },
    ]), idle);
    expect(v).toMatchObject({ winner: 'auto', kind: 'mixed' });
    expect(v.text).toContain('countPrimes → threads, readAndWait → this event loop');
  });

  it('judges the kind of work by the share of a core the machine could give', () => {
    // Half a core was all there was, and the sequential run used nearly all of it: CPU-bound.
    const v = verdict(results({ sequential: 2000, inline: 2000, thread: 1100, process: 1200, auto: 1150 }, 0.47), { cores: 2, load: 4, coreAvailability: 0.5 });
    expect(v.kind).toBe('CPU-bound');
    expect(v.text).toContain('this busy machine gave it');
  });

  it('names a busy machine when no parallel model paid off', () => {
    const v = verdict(results({ sequential: 1000, inline: 990, thread: 1300, process: 1500, auto: 1200 }, 0.9), { cores: 2, load: 7.5, coreAvailability: 1 });
    expect(v.winner).toBe('inline');
    expect(v.text).toContain('load 7.5 on 2 cores');
  });
});
