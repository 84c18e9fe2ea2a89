// Errors a task throws come back as TaskError: name, message, stack, cause and
// own properties as thrown, on every backend and through every call style.
import { afterEach, describe, expect, it } from 'vitest';
import { TandemError, TaskError } from 'tandem';
import { allBackends, cleanup, failure, makePool, rejection } from '../helpers.js';
import { asyncBoom, boom, echo, failOn, throwString } from '../fixtures/tasks.mjs';
import { cjsFail } from '../fixtures/cjs-tasks.cjs';

afterEach(cleanup);

describe.each(allBackends)('remote errors on the %s backend', (backend) => {
  it('a thrown error arrives as TaskError with remote name, message, stack, cause and own properties', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.run(boom, 'too big'));
    expect(error).toBeInstanceOf(TaskError);
    expect(error).toBeInstanceOf(TandemError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('ERR_TANDEM_TASK');
    expect(error.remoteName).toBe('RangeError');
    expect(error.message).toContain('too big');
    // The stack is the one where the error was thrown: in the fixture module.
    expect(error.remoteStack).toContain('tasks.mjs');
    expect(error.stack).toContain('tasks.mjs');
    // Own enumerable properties travel; the remote `code` does not replace tandem's.
    expect(error.properties).toEqual({ code: 'E_BOOM', detail: { n: 1 } });
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as Error).name).toBe('TypeError');
    expect((error.cause as Error).message).toBe('root cause');
  });

  it('a rejected promise from an async task arrives the same way', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.submit(asyncBoom, ['bad token']));
    expect(error).toBeInstanceOf(TaskError);
    expect(error.code).toBe('ERR_TANDEM_TASK');
    expect(error.remoteName).toBe('SyntaxError');
    expect(error.message).toContain('bad token');
  });

  it('a thrown non-Error value is reported, not lost', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.run(throwString));
    expect(error).toBeInstanceOf(TaskError);
    expect(error.code).toBe('ERR_TANDEM_TASK');
    // Where the value is kept (message, cause or properties) is the implementation's choice.
    const kept = [error.message, error.cause, error.properties].map((part) => (typeof part === 'string' ? part : JSON.stringify(part)));
    expect(kept.join(' ')).toContain('plain string');
  });

  it('an error thrown by a CommonJS task arrives as TaskError', async () => {
    const pool = makePool({ backend, size: 1 });
    const error = await rejection(pool.run(cjsFail));
    expect(error.code).toBe('ERR_TANDEM_TASK');
    expect(error.remoteName).toBe('TypeError');
    expect(error.remoteStack).toContain('cjs-tasks.cjs');
  });

  it('map, starmap and imap reject with the first TaskError', async () => {
    const pool = makePool({ backend, size: 2 });
    const items = Array.from({ length: 40 }, (_, i) => i);
    const fromMap = await rejection(pool.map(failOn, items, { chunksize: 3 }));
    expect(fromMap).toBeInstanceOf(TaskError);
    expect(fromMap.message).toContain('unlucky');
    const fromStarmap = await rejection(
      pool.starmap(
        failOn,
        items.map((i): [number] => [i]),
      ),
    );
    expect(fromStarmap.code).toBe('ERR_TANDEM_TASK');
    const fromImap = await failure(async () => {
      for await (const _ of pool.imap(failOn, items, { chunksize: 1 })) {
        // consume
      }
    });
    expect(fromImap.code).toBe('ERR_TANDEM_TASK');
  });

  it('a failed call leaves the pool serving', async () => {
    const pool = makePool({ backend, size: 1 });
    const failures = await Promise.allSettled([pool.run(boom, 'a'), pool.run(boom, 'b')]);
    expect(failures.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    expect(await pool.run(echo, 'still here')).toBe('still here');
  });
});
