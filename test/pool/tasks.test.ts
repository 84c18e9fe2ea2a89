// What may be run: tasks from ES modules, CommonJS and TypeScript (under
// tsx), plain self-contained functions sent as source, and the errors for
// anything else.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidTaskError, TandemError, TaskNotFoundError } from 'tandem';
import { allBackends, cleanup, makePool, rejection, thrown, workerBackends } from '../helpers.js';
import { triple } from '../fixtures/cjs-tasks.cjs';
import { getHidden, visible } from '../fixtures/not-exported.mjs';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

afterEach(cleanup);

describe.each(allBackends)('tasks on the %s backend', (backend) => {
  it('a self-contained plain function runs (its source is sent)', async () => {
    const pool = makePool({ backend, size: 1 });
    expect(await pool.run((x: number) => x * 2, 21)).toBe(42);
    expect(
      await pool.map(
        function inc(n: number) {
          return n + 1;
        },
        [1, 2],
      ),
    ).toEqual([2, 3]);
    expect(await pool.run(async (s: string) => s.toUpperCase(), 'up')).toBe('UP');
  });

  it('a plain function that uses an outer variable throws InvalidTaskError naming it', async () => {
    const pool = makePool({ backend, size: 1 });
    const factor = 3;
    const error = thrown(() => pool.submit((x: number) => x * factor, [1]));
    expect(error).toBeInstanceOf(InvalidTaskError);
    expect(error).toBeInstanceOf(TandemError);
    expect(error.code).toBe('ERR_TANDEM_INVALID_TASK');
    expect(error.message).toContain('factor');
    // run() reports it through its promise.
    expect((await rejection(pool.run((x: number) => x * factor, 1))).code).toBe('ERR_TANDEM_INVALID_TASK');
    expect(pool.stats().queued).toBe(0);
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['an object', { run: () => 1 }],
    ['a bound function', ((x: number) => x).bind(null)],
  ])('%s is not a task: submit throws InvalidTaskError', (_, notATask) => {
    const pool = makePool({ backend, size: 1 });
    const error = thrown(() => pool.submit(notATask as never, [] as never));
    expect(error).toBeInstanceOf(InvalidTaskError);
    expect(error.code).toBe('ERR_TANDEM_INVALID_TASK');
  });

  it('runs a task from a CommonJS module (task(__filename, fn))', async () => {
    const pool = makePool({ backend, size: 1 });
    expect(await pool.run(triple, 5)).toBe(15);
    expect(await pool.map(triple, [1, 2, 3])).toEqual([3, 6, 9]);
  });
});

describe.each(workerBackends)('finding tasks in workers (%s)', (backend) => {
  it('a task its module does not export rejects with TaskNotFoundError naming the module and its exports', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.run(getHidden()));
    expect(error).toBeInstanceOf(TaskNotFoundError);
    expect(error).toBeInstanceOf(TandemError);
    expect(error.code).toBe('ERR_TANDEM_TASK_NOT_FOUND');
    expect(error.message).toContain('not-exported.mjs');
    expect(error.message).toContain('visible');
    expect(error.message).toContain('getHidden');
    // The same module's exported task runs, and the pool keeps serving.
    expect(await pool.run(visible)).toBe('visible');
  });
});

describe('TypeScript task modules', () => {
  it('run in thread and process workers when the caller runs under tsx (workers inherit the loader)', async () => {
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', 'test/fixtures/tsx-caller.ts'], {
      cwd: root,
      timeout: 60_000,
    });
    expect(JSON.parse(stdout)).toEqual({ thread: ['THREAD!', ['abab']], process: ['PROCESS!', ['abab']] });
  }, 60_000);
});

describe('the CommonJS build', () => {
  it('runs pools on every backend from a program that uses require()', async () => {
    const { stdout } = await execFileAsync(process.execPath, ['test/fixtures/cjs-caller.cjs'], { cwd: root, timeout: 60_000 });
    const triples = [3, 6, 9];
    expect(JSON.parse(stdout)).toEqual({ results: { thread: triples, process: triples, inline: triples }, isWorker: false });
  }, 60_000);
});
