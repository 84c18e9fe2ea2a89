import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TASKS, cleanupCli, runCli, tempDir } from './helpers.js';

afterEach(cleanupCli);

const MODELS = ['sequential', 'inline', 'thread', 'process', 'auto'];

interface Report {
  settings: { quick: boolean; workers: number; inFlight: number };
  workloads: {
    name: string;
    calls: number;
    results: { model: string; wallMs: number; speedup: number; cpuShare: number; peakMemoryBytes: number; error: string | null }[];
    verdict: { winner: string; kind: string; text: string };
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
    expect(stdout.match(/verdict: .+ won/g)).toHaveLength(3);
    // Not a terminal: plain progress lines on stderr, no bar.
    expect(stderr).toContain('[15/15] mixed · auto');

    const jsonPath = join(out, 'compare.json');
    const htmlPath = join(out, 'compare.html');
    expect(stdout).toContain(jsonPath);
    expect(stdout).toContain(htmlPath);
    const report = JSON.parse(readFileSync(jsonPath, 'utf8')) as Report;
    expect(report.settings.quick).toBe(true);
    expect(report.workloads.map((w) => w.name)).toEqual(['cpu', 'io', 'mixed']);
    for (const workload of report.workloads) {
      expect(workload.results.map((r) => r.model)).toEqual(MODELS);
      for (const r of workload.results) {
        expect(r.error).toBeNull();
        expect(r.wallMs).toBeGreaterThan(0);
        expect(Number.isFinite(r.speedup)).toBe(true);
        expect(r.cpuShare).toBeGreaterThanOrEqual(0);
        expect(r.peakMemoryBytes).toBeGreaterThan(0);
      }
      expect(MODELS).toContain(workload.verdict.winner);
      expect(workload.verdict.text.length).toBeGreaterThan(20);
    }
    // The kind of work is measured from the sequential run, not assumed.
    expect(report.workloads.find((w) => w.name === 'io')!.verdict.kind).toBe('I/O-bound');

    const html = readFileSync(htmlPath, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg /g)!.length).toBeGreaterThanOrEqual(3);
    // Self-contained: no script, nothing loaded from the network.
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it('--task --input compares the user\'s own task', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const inputs = join(dir, 'inputs.json');
    writeFileSync(inputs, JSON.stringify([1, 4, 9, 16, 25, 36]));
    const { code, stdout, stderr } = await runCli(['compare', '--task', `${TASKS}#sqrt`, '--input', inputs, '--out', dir]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('sqrt — your task');
    const report = JSON.parse(readFileSync(join(dir, 'compare.json'), 'utf8')) as Report;
    expect(report.workloads).toHaveLength(1);
    expect(report.workloads[0]!.calls).toBe(6);
    expect(report.workloads[0]!.results.map((r) => r.model)).toEqual(MODELS);
    expect(existsSync(join(dir, 'compare.html'))).toBe(true);
  });

  it('reports a task that fails on its inputs, and exits non-zero', async () => {
    const dir = tempDir();
    const inputs = join(dir, 'inputs.json');
    writeFileSync(inputs, JSON.stringify([4, -1]));
    // The old names of --size and --in-flight still work, with a notice each.
    const { code, stdout, stderr } = await runCli(['compare', '--task', `${TASKS}#sqrt`, '--input', inputs, '--out', dir, '--workers', '3', '--concurrency', '5']);
    expect(code).toBe(1);
    expect(stdout).toContain('RangeError: cannot take the square root of -1');
    expect(stderr.split('\n').filter((line) => line.includes('deprecated'))).toHaveLength(2);
    const report = JSON.parse(readFileSync(join(dir, 'compare.json'), 'utf8')) as Report;
    expect(report.settings).toMatchObject({ workers: 3, inFlight: 5 });
    expect(report.workloads[0]!.results[0]).toMatchObject({ model: 'sequential', error: expect.stringContaining('RangeError') });
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
