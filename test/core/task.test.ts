import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { type Future, Pool, task } from 'tandem';
import { fib } from './fixtures/tasks.mjs';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('task()', () => {
  it('returns the function itself, still callable locally', () => {
    const double = task(import.meta.url, (n: number) => n * 2);
    expect(double(4)).toBe(8);
    expect(task(import.meta.url, double)).toBe(double);
  });

  it('refuses a module reference that is neither a URL nor an absolute path', () => {
    expect(() => task('tasks.js', () => 1)).toThrow(expect.objectContaining({ code: 'ERR_TANDEM_INVALID_TASK' }));
  });

  it('a TypeScript task module runs in thread and process workers under tsx', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/core/fixtures/tsx-caller.ts'], { cwd: root, timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({ thread: 'THREAD!', process: 'PROCESS!' });
  }, 60_000);

  it('the CommonJS build runs pools on every backend', async () => {
    const { stdout } = await run(process.execPath, ['test/core/fixtures/cjs-caller.cjs'], { cwd: root, timeout: 60_000 });
    const triples = [3, 6, 9];
    expect(JSON.parse(stdout)).toEqual({ results: { thread: triples, process: triples, inline: triples }, isWorker: false });
  }, 60_000);

  it('types flow from the task to the call', () => {
    const typed = task(import.meta.url, (n: number): number => n + 1);
    const pool = new Pool({ backend: 'inline', size: 1 });
    expectTypeOf(pool.run(typed, 1)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(pool.submit(typed, [1])).toEqualTypeOf<Future<number>>();
    const mapped = pool.map(typed, [1, 2]);
    mapped.catch(() => {});
    expectTypeOf(mapped).toEqualTypeOf<Promise<number[]>>();
    // @ts-expect-error -- a string is not a number
    void pool.run(typed, 'x').catch(() => {});
    // @ts-expect-error -- too many arguments
    void pool.run(typed, 1, 2).catch(() => {});
    void fib;
    return pool.terminate();
  });
});
