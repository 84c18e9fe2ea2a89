import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, TASKS, cleanupCli, jsonLines, runCli, tempDir } from './helpers.js';

afterEach(cleanupCli);

/** Runs a shell command line (bash, for pipefail) and collects what it wrote. */
function shell(line: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', line], { env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `tandem …args` with its stdout a pipe whose reader is gone before the first write. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

describe('tandem --help', () => {
  it.each([[['--help']], [['compare', '--help']], [['run', '--help']], [['worker', '--help']], [['help', 'run']]])(
    '%j shows usage with an example',
    async (args) => {
      const { code, stdout } = await runCli(args);
      expect(code).toBe(0);
      expect(stdout).toContain('Usage: tandem');
      expect(stdout).toContain('Examples:');
      expect(stdout).toMatch(/\$ tandem (compare|run|worker)/);
    },
  );

  it('rejects an unknown option with a usage error', async () => {
    const { code, stderr } = await runCli(['run', './x.mjs#y', '--size', 'many']);
    expect(code).toBe(2);
    expect(stderr).toContain('--size');
  });

  it('piped into `head -2`, prints two lines and exits 0 without a stack trace', async () => {
    const { code, stdout, stderr } = await shell(`set -o pipefail; '${process.execPath}' '${CLI}' --help | head -2`);
    expect(stdout.split('\n')).toHaveLength(3);
    expect(stdout).toMatch(/^Usage: tandem/);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('exits quietly when the reader of stdout is gone before the first line (EPIPE)', async () => {
    for (const args of [['--help'], ['run', '--help'], ['--version']]) {
      const { code, stderr } = await withClosedStdout(args);
      expect(stderr, args.join(' ')).toBe('');
      expect(code, args.join(' ')).toBe(0);
    }
  });

  it('run stops when the reader of stdout is gone, and exits 141 as a shell reports SIGPIPE', async () => {
    const input = join(tempDir(), 'inputs.jsonl');
    writeFileSync(input, `${Array.from({ length: 50 }, (_, i) => i).join('\n')}\n`);
    const { code, stderr } = await withClosedStdout(['run', `${TASKS}#double`, '--input', input, '--backend', 'inline']);
    expect(code).toBe(141);
    expect(stderr).toContain('EPIPE');
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe('one name per idea across commands', () => {
  it('lists the new names in --help and hides the old ones', async () => {
    for (const [command, names] of [
      ['run', ['--size', '--concurrency-per-worker']],
      ['compare', ['--size', '--in-flight', '--runs']],
      ['worker', ['--size', '--in-flight']],
    ] as const) {
      const { stdout } = await runCli([command, '--help']);
      for (const name of names) expect(stdout, command).toContain(`${name} <`);
      expect(stdout, command).not.toMatch(/--workers|--concurrency </);
    }
  });

  it('still takes the old names of run, with one line on stderr for each', async () => {
    const input = join(tempDir(), 'inputs.jsonl');
    writeFileSync(input, '1\n2\n');
    const { code, stdout, stderr } = await runCli([
      'run',
      `${TASKS}#double`,
      '--input',
      input,
      '--backend',
      'thread',
      '--workers',
      '2',
      '--concurrency',
      '2',
    ]);
    expect(code).toBe(0);
    expect(jsonLines(stdout)).toEqual([
      { line: 1, result: 2 },
      { line: 2, result: 4 },
    ]);
    const notices = stderr.split('\n').filter((line) => line.includes('deprecated'));
    expect(notices).toHaveLength(2);
    expect(notices.find((line) => line.includes('--workers'))).toContain('--size');
    expect(notices.find((line) => line.includes('--concurrency '))).toContain('--concurrency-per-worker');
  });

  it('refuses an old name given with its new one', async () => {
    const run = await runCli(['run', `${TASKS}#double`, '--workers', '2', '--size', '2']);
    expect(run.code).toBe(2);
    const worker = await runCli([
      'worker',
      '--redis',
      'redis://127.0.0.1:1',
      '--queue',
      'q',
      '--tasks',
      TASKS,
      '--concurrency',
      '4',
      '--in-flight',
      '4',
    ]);
    expect(worker.code).toBe(2);
  });
});
