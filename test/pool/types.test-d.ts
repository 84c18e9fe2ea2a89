// Type-level checks, verified by `tsc -p test/tsconfig.json` (npm run
// typecheck); never executed. A call with wrong arguments must not compile.
import { expectTypeOf } from 'vitest';
import { type Future, Pool } from 'tandem';
import { add, fib } from '../fixtures/tasks.mjs';
import { shout } from '../fixtures/ts-tasks.ts';

declare const pool: Pool;

expectTypeOf(pool.run(fib, 30)).toEqualTypeOf<Promise<number>>();
expectTypeOf(pool.run(add, 1, 2)).toEqualTypeOf<Promise<number>>();
expectTypeOf(pool.run(shout, 'a')).toEqualTypeOf<Promise<string>>();
expectTypeOf(pool.submit(fib, [30])).toEqualTypeOf<Future<number>>();
expectTypeOf(pool.map(fib, [1, 2])).toEqualTypeOf<Promise<number[]>>();
expectTypeOf(pool.starmap(add, [[1, 2]])).toEqualTypeOf<Promise<number[]>>();
expectTypeOf(pool.imap(fib, [1, 2])).toEqualTypeOf<AsyncIterableIterator<number>>();
expectTypeOf(pool.run((x: number) => `${x}`, 1)).toEqualTypeOf<Promise<string>>();
expectTypeOf(pool.run(async (x: number) => x > 0, 1)).toEqualTypeOf<Promise<boolean>>();

// @ts-expect-error -- fib takes a number
void pool.run(fib, 'x');
// @ts-expect-error -- too many arguments
void pool.run(fib, 1, 2);
// @ts-expect-error -- missing argument
void pool.run(add, 1);
// @ts-expect-error -- submit takes the arguments as an array of the right types
void pool.submit(fib, ['x']);
// @ts-expect-error -- map items are the task's argument
void pool.map(fib, ['x']);
// @ts-expect-error -- starmap items are argument lists
void pool.starmap(add, [[1, 'x']]);
// @ts-expect-error -- shout takes a string
void pool.run(shout, 1);
// @ts-expect-error -- unknown option
new Pool({ sise: 2 });
// @ts-expect-error -- not a backend
new Pool({ backend: 'gpu' });
