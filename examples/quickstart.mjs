// quickstart.mjs — run it: node quickstart.mjs
import { Pool, task, isWorker } from 'tandem';

export const fib = task(import.meta.url, (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2)));

if (!isWorker()) { // workers import this module again to find fib: only the caller runs this
  const pool = new Pool({ backend: 'thread' }); // or 'process', 'inline', 'auto'
  console.log(await pool.run(fib, 30)); // 832040, computed off the main thread
  console.log(await pool.map(fib, [25, 26, 27, 28])); // in parallel, in input order
  await pool.close();
}
