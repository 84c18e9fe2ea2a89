// Worker file for poolifier (FixedThreadPool): named task functions, pool.execute(data, name).
import { ThreadWorker } from 'poolifier';
import { fib as fibKernel } from '../fib.mjs';

export default new ThreadWorker({
  noop: (x) => x,
  fib: (n) => fibKernel(n),
});
