import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TASKS, TS_TASKS, cleanupCli, isAlive, jsonLines, runCli, startCli, tempDir, waitUntil } from './helpers.js';

afterEach(cleanupCli);

function inputFile(lines: string[]): string {
  const path = join(tempDir(), 'inputs.jsonl');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const pidsIn = (file: string): number[] =>
  existsSync(file) ? [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number))] : [];

describe('tandem run', () => {
  it.each(['thread', 'process', 'inline', 'auto'])('writes one result line per input, in input order (%s)', async (backend) => {
    const input = inputFile(['1', '2', '', '3', '4']);
    const { code, stdout } = await runCli(['run', `${TASKS}#double`, '--input', input, '--backend', backend, '--size', '2']);
    expect(code).toBe(0);
    // The blank line is skipped but still counted, so line numbers match the file.
    expect(jsonLines(stdout)).toEqual([
      { line: 1, result: 2 },
      { line: 2, result: 4 },
      { line: 4, result: 6 },
      { line: 5, result: 8 },
    ]);
  });

  it('reads stdin when there is no --input', async () => {
    const { code, stdout } = await runCli(['run', `${TASKS}#double`, '--backend', 'thread'], { stdin: '5\n6\n' });
    expect(code).toBe(0);
    expect(jsonLines(stdout)).toEqual([
      { line: 1, result: 10 },
      { line: 2, result: 12 },
    ]);
  });

  it('turns a line that is not JSON into an error line naming it, and goes on', async () => {
    const input = inputFile(['4', '{"n": ', '9']);
    const { code, stdout } = await runCli(['run', `${TASKS}#sqrt`, '--input', input, '--backend', 'thread']);
    expect(code).toBe(1);
    const lines = jsonLines(stdout);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toEqual({ line: 1, result: 2 });
    expect(lines[1]).toMatchObject({ line: 2, input: '{"n": ', error: { code: 'ERR_TANDEM_INVALID_INPUT' } });
    expect((lines[1].error as { message: string }).message).toContain('line 2');
    expect(lines[2]).toEqual({ line: 3, result: 3 });
  });

  it('turns a failing input into an error line with the input and the error, goes on, and exits non-zero', async () => {
    const input = inputFile(['16', '-1', '25']);
    const { code, stdout, stderr } = await runCli(['run', `${TASKS}#sqrt`, '--input', input, '--backend', 'process', '--size', '2']);
    expect(code).toBe(1);
    const lines = jsonLines(stdout);
    expect(lines[0]).toEqual({ line: 1, result: 4 });
    expect(lines[1]).toMatchObject({ line: 2, input: -1, error: { name: 'TaskError', code: 'ERR_TANDEM_TASK' } });
    expect(lines[2]).toEqual({ line: 3, result: 5 });
    expect(stderr).toContain('1 failed');
  });

  it('gives up on a call past --timeout and reports it on its line', async () => {
    const dir = tempDir();
    const input = inputFile([
      JSON.stringify({ pidFile: join(dir, 'pids'), ms: -1 }),
      JSON.stringify({ pidFile: join(dir, 'pids'), ms: 0 }),
    ]);
    const { code, stdout } = await runCli(['run', `${TASKS}#recordPid`, '--input', input, '--backend', 'thread', '--timeout', '300']);
    expect(code).toBe(1);
    const lines = jsonLines(stdout);
    expect(lines[0]).toMatchObject({ line: 1, error: { code: 'ERR_TANDEM_TASK_TIMEOUT' } });
    expect(lines[1]).toMatchObject({ line: 2, result: expect.any(Number) });
  });

  it('with --unordered, writes each result when it is ready', async () => {
    // Line 1 waits until line 2 has run: in input order it could only come first.
    const marker = join(tempDir(), 'second-ran');
    const input = inputFile([JSON.stringify({ id: 'first', waitFor: marker }), JSON.stringify({ id: 'second', create: marker })]);
    const args = ['run', `${TASKS}#handshake`, '--input', input, '--backend', 'inline', '--concurrency-per-worker', '4'];
    const unordered = await runCli([...args, '--unordered']);
    expect(unordered.code).toBe(0);
    expect(jsonLines(unordered.stdout)).toEqual([
      { line: 2, result: 'second' },
      { line: 1, result: 'first' },
    ]);
    writeFileSync(marker, '');
    const ordered = await runCli(args);
    expect(jsonLines(ordered.stdout)).toEqual([
      { line: 1, result: 'first' },
      { line: 2, result: 'second' },
    ]);
  });

  it.each(['thread', 'process'])('runs a TypeScript task module under tsx (%s)', async (backend) => {
    const { code, stdout } = await runCli(['run', `${TS_TASKS}#square`, '--backend', backend], {
      stdin: '3\n4\n',
      nodeArgs: ['--import', 'tsx'],
    });
    expect(code).toBe(0);
    expect(jsonLines(stdout)).toEqual([
      { line: 1, result: 9 },
      { line: 2, result: 16 },
    ]);
  });

  it('refuses an export that is missing or not a task, with a usage error', async () => {
    const input = inputFile(['1']);
    const missing = await runCli(['run', `${TASKS}#nope`, '--input', input]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("'nope'");
    const plain = await runCli(['run', `${TASKS}#plain`, '--input', input]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('task(import.meta.url');
    const noFile = await runCli(['run', `${TASKS}#double`, '--input', join(tempDir(), 'absent.jsonl')]);
    expect(noFile.code).toBe(2);
  });
});

describe('tandem run, interrupted', () => {
  function slowInputs(count: number, ms: number, pidFile: string): string {
    return inputFile(Array.from({ length: count }, () => JSON.stringify({ pidFile, ms })));
  }

  // Ctrl-C as a terminal sends it: SIGINT to the whole process group.
  it('on Ctrl-C stops taking input, flushes what finished and leaves no process behind', async () => {
    const pidFile = join(tempDir(), 'pids');
    const input = slowInputs(200, 100, pidFile);
    const run = startCli(['run', `${TASKS}#recordPid`, '--input', input, '--backend', 'process', '--size', '2'], { detached: true });
    await run.waitForStdout((text) => text.includes('\n'));
    process.kill(-run.child.pid!, 'SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(130);
    const lines = jsonLines(run.stdout());
    // Every line read got exactly one output line, in input order; the rest were never read.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(200);
    expect(lines.map((l) => l.line)).toEqual(lines.map((_, i) => i + 1));
    expect(lines[0]).toMatchObject({ line: 1, result: expect.any(Number) });
    for (const line of lines.filter((l) => 'error' in l)) expect(line).toMatchObject({ error: { code: 'ERR_TANDEM_CANCELLED' } });
    expect(run.stderr()).toContain('interrupted');
    const pids = pidsIn(pidFile);
    expect(pids.length).toBeGreaterThan(0);
    await waitUntil(() => pids.every((pid) => !isAlive(pid)), 'every worker process is gone');
  });

  it('lets running calls finish on the first SIGINT and stops them on the second', async () => {
    const pidFile = join(tempDir(), 'pids');
    // Line 1 finishes at once; the others never finish by themselves.
    const input = inputFile([JSON.stringify({ pidFile, ms: 0 }), ...Array.from({ length: 5 }, () => JSON.stringify({ pidFile, ms: -1 }))]);
    const run = startCli(['run', `${TASKS}#recordPid`, '--input', input, '--backend', 'process', '--size', '2']);
    await run.waitForStdout((text) => text.includes('\n'));
    await waitUntil(() => readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).length >= 3, 'both workers run a never-ending call');
    // process.kill, not child.kill: Deno's ChildProcess sends only its first signal.
    process.kill(run.child.pid!, 'SIGINT');
    await run.waitForStderr((text) => text.includes('Ctrl-C again'));
    process.kill(run.child.pid!, 'SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(130);
    const lines = jsonLines(run.stdout());
    expect(lines[0]).toMatchObject({ line: 1, result: expect.any(Number) });
    expect(lines.slice(1).map((l) => l.error)).toEqual(lines.slice(1).map(() => expect.objectContaining({ code: 'ERR_TANDEM_CANCELLED' })));
    const pids = pidsIn(pidFile);
    await waitUntil(() => pids.every((pid) => !isAlive(pid)), 'every worker process is gone');
  });
});
