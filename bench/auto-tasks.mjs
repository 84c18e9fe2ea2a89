// Tasks of the mixed-workload benchmark (bench/auto-mixed.mjs).
import { task } from 'tandem';

/** CPU-bound: about `iterations` multiply-adds, no waiting. */
export const crunch = task(import.meta.url, function crunch(iterations) {
  let x = 0;
  for (let i = 0; i < iterations; i++) x = (x + i * i) % 1000003;
  return x;
});

/** I/O-bound: waits `ms` like a network call, computes nothing. */
export const fetchLike = task(import.meta.url, async function fetchLike(ms) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ms;
});
