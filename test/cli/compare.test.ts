import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TASKS, cleanupCli, runCli, tempDir } from './helpers.js';

afterEach(cleanupCli);

const MODELS = ['sequential', 'inline', 'thread', 'process', 'auto'];

interface Report {
  schema: number;
  settings: { quick: boolean; size: number; inFlight: number; runs: number };
  workloads: {
    name: string;
    calls: number;
    results: {
      model: string;
      runs: number;
      wallMs: number;
      wallRunsMs: number[];
      wallMinMs: number;
      wallMaxMs: number;
      speedup: number;
      cpuShare: number;
      peakMemoryBytes: number;
      error: string | null;
    }[];
    verdict: { winner: string; tiedWith: string[]; kind: string; text: string; certainty: string };
  }[];
}

// compare --quick takes seconds of real work on every model; its time budget
// is measured by hand (see the report), never asserted here.
describe('tandem compare', () => {
  it('--quick prints the table and writes the HTML and JSON reports', { timeout: 180_000 }, async () => {
    const out = tempDir();
    const { code, stdout, stderr } = await runCli(['compare', '--quick', '--out', out]);
    expect(code, stderr).toBe(0);
    for (const heading of ['cpu — CPU-bound', 'io — I/O-bound', 'mixed — mixed']) expect(stdout).toContain(heading);
    for (const label of ['sequential', 'inline async', 'threads', 'processes', 'auto']) expect(stdout).toContain(label);
    // A verdict per workload, each with how sure it is (a winner, or too close to call).
    expect(stdout.match(/verdict: .+ (won|too close to call)/g)).toHaveLength(3);
    expect(stdout.match(/how sure: /g)).toHaveLength(3);
    // Not a terminal: plain progress lines on stderr, no bar; three runs of each of 5 models on 3 workloads.
    expect(stderr).toMatch(/\[45\/45\] mixed · .+ · run 3\/3: /);

    const jsonPath = join(out, 'compare.json');
    const htmlPath = join(out, 'compare.html');
    expect(stdout).toContain(jsonPath);
    expect(stdout).toContain(htmlPath);
    const report = JSON.parse(readFileSync(jsonPath, 'utf8')) as Report;
    expect(report.schema).toBe(2);
    expect(report.settings).toMatchObject({ quick: true, runs: 3 });
    expect(report.workloads.map((w) => w.name)).toEqual(['cpu', 'io', 'mixed']);
    for (const workload of report.workloads) {
      expect(workload.results.map((r) => r.model)).toEqual(MODELS);
      for (const r of workload.results) {
        expect(r.error).toBeNull();
        expect(r.runs).toBe(3);
        expect(r.wallRunsMs).toHaveLength(3);
        // The median, between the fastest and the slowest run.
        expect(r.wallMs).toBe([...r.wallRunsMs].sort((a, b) => a - b)[1]);
        expect(r.wallMinMs).toBe(Math.min(...r.wallRunsMs));
        expect(r.wallMaxMs).toBe(Math.max(...r.wallRunsMs));
        expect(r.wallMs).toBeGreaterThan(0);
        expect(Number.isFinite(r.speedup)).toBe(true);
        expect(r.cpuShare).toBeGreaterThanOrEqual(0);
        expect(r.peakMemoryBytes).toBeGreaterThan(0);
      }
      expect(MODELS).toContain(workload.verdict.winner);
      expect(workload.verdict.text.length).toBeGreaterThan(20);
      // The verdict agrees with the table: its winner has the shortest median, and is
      // called clear only when no run of another model was as fast as its slowest.
      const fastest = workload.results.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
      expect(workload.verdict.winner).toBe(fastest.model);
      const overlapping = workload.results.filter((r) => r !== fastest && r.wallMinMs <= fastest.wallMaxMs).map((r) => r.model);
      expect(workload.verdict.tiedWith).toEqual(overlapping);
    }
    // The kind of work is measured from the sequential run, not assumed.
    expect(report.workloads.find((w) => w.name === 'io')!.verdict.kind).toBe('I/O-bound');

    const html = readFileSync(htmlPath, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg /g)!.length).toBeGreaterThanOrEqual(3);
    // Self-contained: no script, nothing loaded from the network.
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it("--task --input compares the user's own task", { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const inputs = join(dir, 'inputs.json');
    writeFileSync(inputs, JSON.stringify([1, 4, 9, 16, 25, 36]));
    const args = ['compare', '--task', `${TASKS}#sqrt`, '--input', inputs, '--out', dir, '--runs', '2', '--size', '2', '--in-flight', '8'];
    const { code, stdout, stderr } = await runCli(args);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('sqrt — your task');
    const report = JSON.parse(readFileSync(join(dir, 'compare.json'), 'utf8')) as Report;
    expect(report.settings).toMatchObject({ size: 2, inFlight: 8, runs: 2 });
    expect(report.workloads).toHaveLength(1);
    expect(report.workloads[0].results.map((r) => r.runs)).toEqual([2, 2, 2, 2, 2]);
    expect(report.workloads[0].calls).toBe(6);
    expect(report.workloads[0].results.map((r) => r.model)).toEqual(MODELS);
    expect(existsSync(join(dir, 'compare.html'))).toBe(true);
  });

  it('reports a task that fails on its inputs, and exits non-zero', async () => {
    const dir = tempDir();
    const inputs = join(dir, 'inputs.json');
    writeFileSync(inputs, JSON.stringify([4, -1]));
    // The old names of --size and --in-flight still work, with a notice each.
    const { code, stdout, stderr } = await runCli([
      'compare',
      '--task',
      `${TASKS}#sqrt`,
      '--input',
      inputs,
      '--out',
      dir,
      '--workers',
      '3',
      '--concurrency',
      '5',
    ]);
    expect(code).toBe(1);
    expect(stdout).toContain('RangeError: cannot take the square root of -1');
    expect(stderr.split('\n').filter((line) => line.includes('deprecated'))).toHaveLength(2);
    const report = JSON.parse(readFileSync(join(dir, 'compare.json'), 'utf8')) as Report;
    expect(report.settings).toMatchObject({ size: 3, inFlight: 5 });
    // A task that fails on its own is not run again, nor under the other models.
    expect(report.workloads[0].results).toHaveLength(1);
    expect(report.workloads[0].results[0]).toMatchObject({ model: 'sequential', runs: 1, error: expect.stringContaining('RangeError') });
  });

  it('refuses --task without --input, and an unknown workload, with a usage error', async () => {
    const noInput = await runCli(['compare', '--task', `${TASKS}#sqrt`]);
    expect(noInput.code).toBe(2);
    expect(noInput.stderr).toContain('--input');
    const unknown = await runCli(['compare', '--quick', '--workloads', 'gpu']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('gpu');
  });
});
