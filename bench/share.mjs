// Shared objects in process workers (issue 10), each against its raw floor in
// the same run:
//   - an uncontended Lock acquire + release in a process worker (a request to
//     the caller's server thread each) vs one raw IPC round trip between a
//     forked child and its parent (process.send and its reply, awaited one at
//     a time, serialization 'advanced' as tandem uses);
//   - a SharedQueue stream from one process worker to another vs a raw
//     pipelined process.send stream from a child to its parent.
// Writes bench/results-share.json and bench/results-share.md.
//
//   npm run build && node bench/share.mjs      full run (5 rounds, interleaved)
//   node bench/share.mjs --rounds=1 --quick    smoke run, writes nothing
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Barrier, Lock, Pool, RLock, SharedQueue } from '../dist/esm/index.js';
import { consumeStream, lockPairs, produceStream } from './share-tasks.mjs';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=')));
const quick = args.has('quick');
const ROUNDS = Number(args.get('rounds') ?? 5);
const PAIRS = quick ? 200 : 2_000;
const ITEMS = quick ? 1_000 : 10_000;
/** Values streamed before each timed stream, raw and SharedQueue alike (JIT warm-up of both ends). */
const WARM = ITEMS / 5;
const CHILD = new URL('./share-child.mjs', import.meta.url);

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** µs per raw round trip: process.send to a child, awaiting its echo, one at a time. */
async function rawRoundTrip(count) {
  const child = fork(CHILD, [], { serialization: 'advanced' });
  let resolve;
  child.on('message', () => resolve());
  const once = () =>
    new Promise((r) => {
      resolve = r;
      child.send({ n: 1 });
    });
  for (let i = 0; i < 100; i++) await once(); // warm up
  const start = performance.now();
  for (let i = 0; i < count; i++) await once();
  const us = ((performance.now() - start) * 1000) / count;
  child.kill();
  return us;
}

/**
 * Values per second of a raw stream: a child sends `count` numbers as fast as process.send takes them
 * (after a warm-up stream of WARM, as the SharedQueue gets).
 */
async function rawStream(count) {
  const child = fork(CHILD, [], { serialization: 'advanced' });
  await new Promise((resolve) => {
    child.once('message', resolve);
    child.send({ n: 0 });
  });
  const stream = (n) =>
    new Promise((resolve) => {
      let received = 0;
      const onMessage = () => {
        if (++received < n) return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send({ stream: n });
    });
  await stream(WARM);
  const start = performance.now();
  await stream(count);
  const rate = count / ((performance.now() - start) / 1000);
  child.kill();
  return rate;
}

/**
 * µs per acquire + release in a process worker (after a warm-up call that starts its server thread,
 * and leaves a Lock leased to the worker).
 */
async function lockInProcess(pool, sync, Kind = Lock) {
  const lock = new Kind({ name: 'bench' });
  await pool.run(lockPairs, lock, 100, sync);
  return pool.run(lockPairs, lock, PAIRS, sync);
}

/** Streams WARM values through a SharedQueue between the pool's two workers, both ways of calling (JIT warm-up of both). */
async function warmQueues(pool) {
  for (const sync of [true, false]) {
    const queue = new SharedQueue({ maxSize: 1_000 });
    const warm = new Barrier(2);
    await Promise.all([pool.run(produceStream, queue, warm, WARM, sync), pool.run(consumeStream, queue, warm, WARM, sync)]);
  }
}

/** Values per second through a SharedQueue from one process worker to another. */
async function queueBetweenProcesses(pool, sync) {
  const queue = new SharedQueue({ maxSize: 1_000 });
  const ready = new Barrier(2);
  const [, rate] = await Promise.all([
    pool.run(produceStream, queue, ready, ITEMS, sync),
    pool.run(consumeStream, queue, ready, ITEMS, sync),
  ]);
  return rate;
}

/** The figures before this change, from runs of commit 4a63086 on this machine (the raw baselines were measured in the same runs). */
const BEFORE = {
  lock:
    'raw 265.9 µs, locked() 1.63x, acquireSync + release 2.19x, await acquire + release 2.71x (2026-11-29, load 4.3); ' +
    'raw 111.1 µs, locked() 2.34x, acquireSync + release 4.38x, await acquire + release 3.97x (2026-11-30, 3 rounds)',
  queue:
    'commit 4a63086, every put and get a round trip through the link thread: putSync/getSync 0.050x, await put/get 0.053x ' +
    '(2026-11-29); 0.04x both (2026-11-30, 3 rounds); commit 9c8b59d, requests written by the task thread: 0.118x and ' +
    '0.122x (2026-11-30, 5 rounds, 100 values of warm-up)',
};

const rows = { roundTrip: [], query: [], lockSync: [], lockAsync: [], rlockSync: [], stream: [], queueSync: [], queueAsync: [] };
for (let round = 0; round < ROUNDS; round++) {
  const pool = new Pool({ backend: 'process', size: 2 });
  await pool.run(lockPairs, new Lock(), 1, true); // both workers up before timing
  rows.roundTrip.push(await rawRoundTrip(PAIRS));
  rows.query.push(await lockInProcess(pool, 'query'));
  rows.lockSync.push(await lockInProcess(pool, true));
  rows.lockAsync.push(await lockInProcess(pool, false));
  rows.rlockSync.push(await lockInProcess(pool, true, RLock));
  rows.stream.push(await rawStream(ITEMS));
  await warmQueues(pool);
  rows.queueSync.push(await queueBetweenProcesses(pool, true));
  rows.queueAsync.push(await queueBetweenProcesses(pool, false));
  await pool.close();
  console.error(`round ${round + 1}/${ROUNDS}`, Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, Math.round(v.at(-1))])));
}

const m = Object.fromEntries(Object.entries(rows).map(([key, values]) => [key, median(values)]));
const fixed = (n, digits = 1) => n.toFixed(digits);
const rate = (n) => Math.round(n).toLocaleString('en-US');
const md = [
  '# tandem: shared objects in process workers',
  '',
  `Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, ${new Date().toISOString()}.`,
  `Median of ${ROUNDS} interleaved rounds. Produced by \`node bench/share.mjs\`.`,
  '',
  '## Uncontended Lock acquire + release in a process worker vs one raw IPC round trip (µs, lower is better)',
  '',
  '| case | raw round trip | tandem | tandem / raw |',
  '| --- | ---: | ---: | ---: |',
  `| one request alone: locked() | ${fixed(m.roundTrip)} | ${fixed(m.query)} | ${fixed(m.query / m.roundTrip, 2)}x |`,
  `| Lock: acquireSync() + release() | ${fixed(m.roundTrip)} | ${fixed(m.lockSync)} | ${fixed(m.lockSync / m.roundTrip, 2)}x |`,
  `| Lock: await acquire() + release() | ${fixed(m.roundTrip)} | ${fixed(m.lockAsync)} | ${fixed(m.lockAsync / m.roundTrip, 2)}x |`,
  `| RLock (no lease): acquireSync() + release() | ${fixed(m.roundTrip)} | ${fixed(m.rlockSync)} | ${fixed(
    m.rlockSync / m.roundTrip,
    2,
  )}x |`,
  '',
  'Goal (issue 10): at most 1.5x. A Lock taken without contention stays leased to the process worker',
  '(src/share/lease.ts): its acquire + release are local, each sending the server thread a note it does not wait',
  "for (written to the socket by the task's own thread). An RLock is not leased: its acquire is one round trip",
  'and its release, of a lock the process holds, a one-way request. One request alone (locked()) shows a round trip:',
  "the task's thread writes to the socket itself, the server thread answers, the child's link thread hands the reply",
  "to the task's thread (three thread wake-ups, against two for the raw round trip).",
  '',
  `Before (commit 4a63086, every acquire and release a round trip through the link thread): ${BEFORE.lock}.`,
  '',
  '## SharedQueue from one process worker to another vs a raw process.send stream (values per second, higher is better)',
  '',
  '| case | raw stream (child -> parent) | SharedQueue (process -> process) | SharedQueue / raw |',
  '| --- | ---: | ---: | ---: |',
  `| putSync / getSync, numbers | ${rate(m.stream)} | ${rate(m.queueSync)} | ${fixed(m.queueSync / m.stream, 3)}x |`,
  `| await put / await get, numbers | ${rate(m.stream)} | ${rate(m.queueAsync)} | ${fixed(m.queueAsync / m.stream, 3)}x |`,
  '',
  `Goal (issue 10): at least 0.5x. Each side streams ${rate(WARM)} values first (JIT warm-up; SharedQueue: both ways of`,
  `calling), then ${rate(ITEMS)} are timed.`,
  "A process worker's puts leave without waiting, as stream frames its task's thread writes to the socket",
  '(a round trip every 256 puts, or every maxSize if smaller, keeps it within a window of the queue); its gets',
  'take values ahead, as many as the task uses quickly (up to 256), asking for more before it runs out, and say',
  'which they used (one-way), so that unused ones go back to the queue when the call ends or the worker dies',
  '(src/share/queue-side.ts).',
  '',
  `Before: ${BEFORE.queue}.`,
];
const text = md.join('\n');
console.log(text);
if (!quick) {
  writeFileSync(new URL('./results-share.json', import.meta.url), `${JSON.stringify({ rounds: rows, medians: m }, null, 2)}\n`);
  writeFileSync(new URL('./results-share.md', import.meta.url), `${text}\n`);
  console.error('wrote bench/results-share.json and bench/results-share.md');
}
