// The verdict's logic on fixed figures (the CLI tests cannot steer timings).
import { describe, expect, it } from 'vitest';
import type { ModelName, ModelRun } from '../../src/cli/compare/measure.js';
import { fillSpeedups, median, roundOrder, summarise } from '../../src/cli/compare/runs.js';
import { classify, verdict } from '../../src/cli/compare/verdict.js';

const LABELS: Record<ModelName, string> = {
  sequential: 'sequential',
  inline: 'inline async',
  thread: 'threads',
  process: 'processes',
  auto: 'auto',
};

function run(model: ModelName, wallMs: number, coresBusy: number, placements: ModelRun['placements']): ModelRun {
  return {
    model,
    label: LABELS[model],
    wallMs,
    startupMs: 0,
    cpuMs: 0,
    cpuShare: 0,
    coresBusy,
    poolUtilisation: null,
    peakMemoryBytes: 1,
    memoryPerWorkerBytes: null,
    workers: 0,
    calls: 10,
    placements: model === 'auto' ? placements : [],
    error: null,
  };
}

/** Results of models whose runs took the given wall times (ms), summed up as the command does. */
function results(wallRunsMs: Partial<Record<ModelName, number[]>>, sequentialCores: number, placements: ModelRun['placements'] = []) {
  const summed = (Object.keys(wallRunsMs) as ModelName[]).map((model) =>
    summarise(wallRunsMs[model]!.map((ms) => run(model, ms, model === 'sequential' ? sequentialCores : 1, placements))),
  );
  fillSpeedups(summed);
  return summed;
}

const idle = { cores: 2, load: 0.2, coreAvailability: 1 };

describe('compare runs', () => {
  it('takes the median of each figure and keeps the spread of the wall times', () => {
    const [r] = results({ thread: [530, 900, 510] }, 1);
    expect(r).toMatchObject({ runs: 3, wallMs: 530, wallMinMs: 510, wallMaxMs: 900, wallRunsMs: [530, 900, 510] });
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('rotates the order of the models from round to round', () => {
    expect(roundOrder(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(roundOrder(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(roundOrder(['a', 'b', 'c'], 3)).toEqual(['a', 'b', 'c']);
  });
});

describe('compare verdict', () => {
  it('classifies work by how busy the sequential run kept its core', () => {
    expect(classify(0.97)).toBe('CPU-bound');
    expect(classify(0.04)).toBe('I/O-bound');
    expect(classify(0.45)).toBe('mixed');
  });

  it('CPU-bound: workers win, because one event loop runs one call at a time', () => {
    const v = verdict(
      results(
        {
          sequential: [1000, 990, 1010],
          inline: [1000, 1005, 995],
          thread: [520, 510, 530],
          process: [600, 610, 590],
          auto: [560, 550, 570],
        },
        0.98,
      ),
      idle,
    );
    expect(v).toMatchObject({ winner: 'thread', tiedWith: [], kind: 'CPU-bound' });
    // The same figure as the table's speedup column: sequential median / threads median.
    expect(v.text).toMatch(/^threads won, 1\.92× as fast as sequential: the work is CPU-bound/);
    expect(v.text).toContain('one event loop runs JavaScript one call at a time');
    expect(v.text).not.toContain('\n');
    expect(v.certainty).toMatch(/^clear: each of the 3 runs of threads/);
    expect(v.certainty).toContain('1 time in 10');
  });

  it('says how sure it is: five runs each beat by luck far less often than three', () => {
    const five = verdict(results({ sequential: [1000, 990, 1010, 1000, 1000], thread: [520, 510, 530, 515, 525] }, 0.98), idle);
    expect(five.certainty).toContain('1 time in 126');
  });

  it("calls it too close when the winner's runs overlap another model's, and claims no winner", () => {
    // Threads have the best median, but one run of auto beat one run of threads.
    const v = verdict(
      results(
        {
          sequential: [1000, 990, 1010],
          inline: [1000, 1005, 995],
          thread: [520, 500, 560],
          process: [700, 690, 720],
          auto: [540, 530, 555],
        },
        0.98,
      ),
      idle,
    );
    expect(v).toMatchObject({ winner: 'thread', tiedWith: ['auto'], kind: 'CPU-bound' });
    expect(v.text).toMatch(/^threads and auto are too close to call \(1\.92× and 1\.85× as fast as sequential\)/);
    expect(v.text).not.toMatch(/\bwon\b/);
    // Nothing said about threads beating processes on start-up: that would claim what the runs do not show.
    expect(v.text).not.toContain('threads start faster');
    expect(v.certainty).toMatch(/^too close to call: the runs of threads 500–560 ms and auto 530–555 ms overlap/);
  });

  it('one run each: names the fastest but says the spread is unknown', () => {
    const v = verdict(results({ sequential: [1000], thread: [520], process: [600] }, 0.98), idle);
    expect(v).toMatchObject({ winner: 'thread', tiedWith: [] });
    expect(v.certainty).toContain('--runs 3');
  });

  it('I/O-bound: one event loop wins by overlapping the waits', () => {
    const v = verdict(
      results(
        { sequential: [900, 910, 890], inline: [30, 32, 29], thread: [150, 140, 160], process: [400, 390, 420], auto: [120, 118, 125] },
        0.03,
        [{ task: 'fetch', backend: 'inline', reason: 'I/O-bound', cpuShare: 0.02 }],
      ),
      idle,
    );
    expect(v).toMatchObject({ winner: 'inline', tiedWith: [], kind: 'I/O-bound' });
    expect(v.text).toContain('overlapping the waits, not more cores');
    expect(v.text).toContain('fetch → this event loop');
  });

  it('mixed: says where auto put each task', () => {
    const v = verdict(
      results(
        { sequential: [900, 905, 895], inline: [500, 490, 510], thread: [450, 440, 460], process: [600, 610, 590], auto: [300, 310, 290] },
        0.45,
        [
          { task: 'countPrimes', backend: 'thread', reason: 'CPU-bound', cpuShare: 0.99 },
          { task: 'readAndWait', backend: 'inline', reason: 'I/O-bound', cpuShare: 0.02 },
        ],
      ),
      idle,
    );
    expect(v).toMatchObject({ winner: 'auto', kind: 'mixed' });
    expect(v.text).toContain('countPrimes → threads, readAndWait → this event loop');
  });

  it('judges the kind of work by the share of a core the machine could give', () => {
    // Half a core was all there was, and the sequential run used nearly all of it: CPU-bound.
    const v = verdict(
      results(
        {
          sequential: [2000, 2010, 1990],
          inline: [2000, 2005, 1995],
          thread: [1100, 1090, 1110],
          process: [1200, 1210, 1190],
          auto: [1150, 1140, 1160],
        },
        0.47,
      ),
      { cores: 2, load: 4, coreAvailability: 0.5 },
    );
    expect(v.kind).toBe('CPU-bound');
    expect(v.text).toContain('this busy machine gave it');
  });

  it('names a busy machine when no parallel model paid off', () => {
    const v = verdict(
      results(
        {
          sequential: [1000, 1010, 990],
          inline: [990, 985, 995],
          thread: [1300, 1290, 1310],
          process: [1500, 1490, 1510],
          auto: [1200, 1190, 1210],
        },
        0.9,
      ),
      { cores: 2, load: 7.5, coreAvailability: 1 },
    );
    // Inline and sequential overlap: too close to call, and neither is parallel on CPU-bound work.
    expect(v).toMatchObject({ winner: 'inline', tiedWith: ['sequential'] });
    expect(v.text).toContain('no parallel model clearly paid off');
    expect(v.text).toContain('load 7.5 on 2 cores');
  });

  it("does not credit the workers when their runs overlap sequential's", () => {
    const v = verdict(results({ sequential: [700, 580, 1860], thread: [1120, 1050, 2380], process: [1430, 1010, 2240] }, 0.8), {
      cores: 2,
      load: 12,
      coreAvailability: 1,
    });
    expect(v).toMatchObject({ winner: 'sequential', tiedWith: ['thread', 'process'] });
    expect(v.text).toContain('no parallel model clearly paid off');
    expect(v.text).not.toContain('use all 2 cores');
  });

  it('never names a winner whose runs overlap, whatever the figures (table and verdict agree)', () => {
    // A fixed spread of cases: the verdict's winner is always the fastest median
    // in the table, and it is called clear only where no run of another model reached it.
    const cases: Partial<Record<ModelName, number[]>>[] = [
      { sequential: [100, 100, 100], inline: [99, 101, 100] },
      { sequential: [100, 300, 200], thread: [150, 160, 170], process: [140, 400, 145] },
      { sequential: [500, 510, 505], inline: [60, 55, 70], thread: [65, 62, 200], auto: [58, 59, 61] },
    ];
    for (const figures of cases) {
      const summed = results(figures, 0.5);
      const v = verdict(summed, idle);
      const fastest = summed.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
      expect(v.winner).toBe(fastest.model);
      for (const other of summed.filter((r) => r !== fastest)) {
        expect(v.tiedWith.includes(other.model)).toBe(other.wallMinMs <= fastest.wallMaxMs);
      }
      expect(v.text.includes(' won')).toBe(v.tiedWith.length === 0);
    }
  });
});
