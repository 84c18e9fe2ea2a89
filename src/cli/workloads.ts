import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { task } from '../index.js';

/**
 * The built-in workloads of `tandem compare`. The tasks are declared here and
 * re-exported by the CLI entry (src/cli/index.ts): tsup bundles both into
 * dist/esm/cli/index.js, so `import.meta.url` is the bundle, and a worker
 * that imports the bundle again finds them among its exports (the entry's
 * main code is skipped there, see isWorker()).
 */

export interface PrimeRange {
  from: number;
  to: number;
}

/** CPU-bound: counts the primes in [from, to) by trial division. Pure computation, no I/O. */
export const countPrimes = task(import.meta.url, function countPrimes(range: PrimeRange): number {
  let count = 0;
  for (let n = Math.max(2, range.from); n < range.to; n++) {
    if (n % 2 === 0) {
      if (n === 2) count++;
      continue;
    }
    let prime = true;
    for (let d = 3; d * d <= n; d += 2) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
});

export interface HashChain {
  seed: string;
  rounds: number;
}

/** CPU-bound: hashes a value with SHA-256, `rounds` times over (synchronous, on the calling thread). */
export const hashChain = task(import.meta.url, function hashChain(chain: HashChain): string {
  let digest: Buffer = Buffer.from(chain.seed);
  for (let i = 0; i < chain.rounds; i++) digest = createHash('sha256').update(digest).digest();
  return digest.toString('hex');
});

export interface FileFetch {
  path: string;
  /** Simulated network round trip, ms. */
  latencyMs: number;
}

/**
 * I/O-bound: reads a real file, then waits as long as a network call would
 * (a timer stands in for the remote service, so no outside service is needed).
 * The thread is idle almost all the time.
 */
export const readAndWait = task(import.meta.url, async function readAndWait(fetch: FileFetch): Promise<number> {
  const data = await readFile(fetch.path);
  await sleep(fetch.latencyMs);
  return data.length;
});

/** One task over its inputs; a workload runs its batches at the same time. */
export interface Batch {
  label: string;
  // biome-ignore lint/suspicious/noExplicitAny: each batch's task takes its own input type
  task: (input: any) => unknown;
  inputs: unknown[];
}

export interface Workload {
  name: string;
  title: string;
  description: string;
  batches: Batch[];
}

interface Sizes {
  primeRanges: number;
  primeSpan: number;
  hashChains: number;
  hashRounds: number;
  fetches: number;
  /** The mixed workload: prime ranges and fetches, about as much computing as waiting. */
  mixedRanges: number;
  mixedFetches: number;
  files: number;
  fileBytes: number;
  latencyMs: number;
}

// Calibrated so that one call takes tens of milliseconds (far above the
// per-call overhead of any backend). `--quick` runs each model three times
// (see compare/runs.ts) on about a third of the calls it made when it ran
// once; every batch keeps three calls or more. What it adds is mostly the
// workers' start-up, which every run pays (measured on 2 busy cores: about
// 14 s instead of 10 s).
const QUICK: Sizes = {
  primeRanges: 4,
  primeSpan: 180_000,
  hashChains: 3,
  hashRounds: 25_000,
  fetches: 12,
  mixedRanges: 3,
  mixedFetches: 8,
  files: 8,
  fileBytes: 256 * 1024,
  latencyMs: 20,
};
// Five runs of each model without --quick, on half the calls it made when it
// ran once: about 90 s instead of 42 s on 2 cores.
const FULL: Sizes = {
  primeRanges: 24,
  primeSpan: 250_000,
  hashChains: 12,
  hashRounds: 50_000,
  fetches: 60,
  mixedRanges: 16,
  mixedFetches: 30,
  files: 30,
  fileBytes: 1024 * 1024,
  latencyMs: 30,
};

const PRIME_BASE = 2_000_000;

function primeRanges(count: number, span: number): PrimeRange[] {
  return Array.from({ length: count }, (_, i) => ({ from: PRIME_BASE + i * span, to: PRIME_BASE + (i + 1) * span }));
}

/** Writes the files the I/O workload reads into `dir` (a temp folder the caller removes). */
async function writeFiles(dir: string, sizes: Sizes): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < sizes.files; i++) {
    const path = join(dir, `file-${i}.bin`);
    const content = Buffer.alloc(sizes.fileBytes, i % 251);
    await writeFile(path, content);
    paths.push(path);
  }
  return paths;
}

function fetches(paths: string[], count: number, latencyMs: number): FileFetch[] {
  return Array.from({ length: count }, (_, i) => ({ path: paths[i % paths.length], latencyMs }));
}

/** The CPU-bound, I/O-bound and mixed workloads, with their files written to `dir`. */
export async function builtInWorkloads(quick: boolean, dir: string): Promise<Workload[]> {
  const sizes = quick ? QUICK : FULL;
  const paths = await writeFiles(dir, sizes);
  const kb = Math.round(sizes.fileBytes / 1024);
  return [
    {
      name: 'cpu',
      title: 'CPU-bound',
      description:
        `count the primes in ${sizes.primeRanges} ranges of ${sizes.primeSpan.toLocaleString('en')} numbers by trial ` +
        `division, and hash ${sizes.hashChains} chains of ${sizes.hashRounds.toLocaleString('en')} SHA-256 rounds`,
      batches: [
        { label: 'countPrimes', task: countPrimes, inputs: primeRanges(sizes.primeRanges, sizes.primeSpan) },
        {
          label: 'hashChain',
          task: hashChain,
          inputs: Array.from({ length: sizes.hashChains }, (_, i) => ({ seed: `seed-${i}`, rounds: sizes.hashRounds })),
        },
      ],
    },
    {
      name: 'io',
      title: 'I/O-bound',
      description:
        `${sizes.fetches} calls that each read a ${kb} KB file from a temp folder and wait ${sizes.latencyMs} ms of simulated ` +
        `network latency`,
      batches: [{ label: 'readAndWait', task: readAndWait, inputs: fetches(paths, sizes.fetches, sizes.latencyMs) }],
    },
    {
      name: 'mixed',
      title: 'mixed',
      description:
        `both at once, about as much computing as waiting: ${sizes.mixedRanges} prime-counting ranges and ` +
        `${sizes.mixedFetches} file reads with ${sizes.latencyMs} ms latency`,
      batches: [
        { label: 'countPrimes', task: countPrimes, inputs: primeRanges(sizes.mixedRanges, sizes.primeSpan) },
        { label: 'readAndWait', task: readAndWait, inputs: fetches(paths, sizes.mixedFetches, sizes.latencyMs) },
      ],
    },
  ];
}
