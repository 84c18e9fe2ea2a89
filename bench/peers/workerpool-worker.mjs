// Worker script for workerpool: functions are registered by name and called with pool.exec(name, [args]).
import workerpool from 'workerpool';
import { fib as fibKernel } from '../fib.mjs';

workerpool.worker({
  noop: (x) => x,
  fib: (n) => fibKernel(n),
});
