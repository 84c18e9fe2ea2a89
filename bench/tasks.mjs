// tandem task modules for the benchmark: workers import this file again by URL.
import { task } from 'tandem';
import { fib as fibKernel } from './fib.mjs';

/** Trivial task: identity (scenarios 1, 2, 4). */
export const noop = task(import.meta.url, function noop(x) {
  return x;
});

/** CPU-bound task (scenario 3). */
export const fib = task(import.meta.url, function fib(n) {
  return fibKernel(n);
});

/** Returns the worker's process id after `ms` (so concurrent calls land on distinct workers; scenario 5). */
export const pidAfter = task(import.meta.url, async function pidAfter(ms) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return process.pid;
});
