// Benchmarks of tandem's shared-memory primitives (issue 3, item 5), each against
// its floor in the same run:
//   - Lock acquire/release, uncontended and contended, vs a bare
//     Atomics.compareExchange spin lock;
//   - SharedQueue throughput between two threads vs postMessage on a MessageChannel.
// Writes bench/results-sync.json and bench/results-sync.md.
//
//   npm run build && node bench/sync.mjs            full run (5 rounds, interleaved)
//   node bench/sync.mjs --rounds=1 --quick          smoke run, writes nothing
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { MessageChannel, Worker, isMainThread, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { Lock, SharedQueue } from '../dist/esm/index.js';

// ---------------------------------------------------------------- bare floor
function bareAcquire(i32) {
  while (Atomics.compareExchange(i32, 0, 0, 1) !== 0);
}
function bareRelease(i32) {
  Atomics.store(i32, 0, 0);
}

// ---------------------------------------------------------------- worker side
function uncontended({ kind, iterations, buffer }) {
  const i32 = new Int32Array(buffer ?? new SharedArrayBuffer(8));
  const lock = new Lock();
  const start = performance.now();
  if (kind === 'bare') {
    for (let i = 0; i < iterations; i++) {
      bareAcquire(i32);
      bareRelease(i32);
    }
  } else {
    for (let i = 0; i < iterations; i++) {
      lock.acquireSync();
      lock.release();
    }
  }
  return performance.now() - start;
}

/** Each of the threads increments a plain shared counter `iterations` times under the lock. */
function contended({ kind, iterations, lock, buffer, counter, start }) {
  const i32 = new Int32Array(buffer);
  const count = new Int32Array(counter);
  const go = new Int32Array(start);
  Atomics.add(go, 1, 1);
  Atomics.wait(go, 0, 0); // all threads start together
  const begin = performance.now();
  if (kind === 'bare') {
    for (let i = 0; i < iterations; i++) {
      bareAcquire(i32);
      count[0]++;
      bareRelease(i32);
    }
  } else {
    for (let i = 0; i < iterations; i++) {
      lock.acquireSync();
      count[0]++;
      lock.release();
    }
  }
  return performance.now() - begin;
}

/** Both sides start together on `start` ([go, ready]); each returns when it finished (ms since the epoch). */
function waitForGo(start) {
  const go = new Int32Array(start);
  Atomics.add(go, 1, 1);
  Atomics.wait(go, 0, 0);
}

function queueProducer({ transport, items, value, queue, port, start }) {
  waitForGo(start);
  if (transport === 'SharedQueue') for (let i = 0; i < items; i++) queue.putSync(value);
  else for (let i = 0; i < items; i++) port.postMessage(value);
  return performance.timeOrigin + performance.now();
}

async function queueConsumer({ transport, items, queue, port, start }) {
  let received = 0;
  const done = () => ({ received, end: performance.timeOrigin + performance.now() });
  waitForGo(start);
  if (transport === 'SharedQueue') {
    for (; received < items; received++) queue.getSync();
    return done();
  }
  if (transport === 'postMessage (sync receive)') {
    // The fastest a thread can drain a port: receiveMessageOnPort in a loop (it spins, never sleeps).
    while (received < items) if (receiveMessageOnPort(port)) received++;
    return done();
  }
  return new Promise((resolve) => {
    port.on('message', () => {
      if (++received === items) resolve(done());
    });
  });
}

if (!isMainThread) {
  const job = workerData;
  const decode = (marker) => {
    // Rebuild shareables from what the main thread sent (the pool does this for tasks).
    const decoders = globalThis[Symbol.for('tandem.shareable.decoders')];
    return decoders.get(marker.kind)(marker.state);
  };
  if (job.lock) job.lock = decode(job.lock);
  if (job.queue) job.queue = decode(job.queue);
  const run = { uncontended, contended, queueProducer, queueConsumer }[job.role];
  Promise.resolve(run(job)).then((result) => parentPort.postMessage(result));
} else {
  await main();
}

// ---------------------------------------------------------------- main side
function inWorker(job, transferList = []) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job, transferList });
    worker.once('message', (result) => {
      resolve(result);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

function encode(shareable) {
  return shareable[Symbol.for('tandem.shareable.encode')]();
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function mainThreadUncontended(kind, iterations) {
  const i32 = new Int32Array(new SharedArrayBuffer(8));
  const lock = new Lock();
  const start = performance.now();
  if (kind === 'bare') {
    for (let i = 0; i < iterations; i++) {
      bareAcquire(i32);
      bareRelease(i32);
    }
  } else if (kind === 'tryAcquire') {
    for (let i = 0; i < iterations; i++) {
      lock.tryAcquire();
      lock.release();
    }
  } else {
    for (let i = 0; i < iterations; i++) {
      await lock.acquire();
      lock.release();
    }
  }
  return performance.now() - start;
}

async function contendedRun(kind, threads, iterations) {
  const buffer = new SharedArrayBuffer(8);
  const counter = new SharedArrayBuffer(4);
  const start = new SharedArrayBuffer(8);
  const lock = new Lock({ name: 'bench' });
  const runs = Array.from({ length: threads }, () =>
    inWorker({ role: 'contended', kind, iterations, buffer, counter, start, lock: encode(lock) }),
  );
  const go = new Int32Array(start);
  while (Atomics.load(go, 1) < threads) await new Promise((resolve) => setTimeout(resolve, 1));
  const begin = performance.now();
  Atomics.store(go, 0, 1);
  Atomics.notify(go, 0);
  await Promise.all(runs);
  const elapsed = performance.now() - begin;
  const total = new Int32Array(counter)[0];
  if (total !== threads * iterations) throw new Error(`${kind} lost updates: ${total} of ${threads * iterations}`);
  return elapsed;
}

async function queueRun(transport, items, value) {
  let producerJob;
  let consumerJob;
  let transfers = [[], []];
  if (transport === 'SharedQueue') {
    const queue = encode(new SharedQueue({ byteLength: 1 << 20 }));
    producerJob = { queue };
    consumerJob = { queue };
  } else {
    const { port1, port2 } = new MessageChannel();
    producerJob = { port: port1 };
    consumerJob = { port: port2 };
    transfers = [[port1], [port2]];
  }
  const start = new SharedArrayBuffer(8);
  const consumer = inWorker({ role: 'queueConsumer', transport, items, start, ...consumerJob }, transfers[1]);
  const producer = inWorker({ role: 'queueProducer', transport, items, value, start, ...producerJob }, transfers[0]);
  // Timed from the moment both workers are up and waiting, so start-up cost is left out.
  const go = new Int32Array(start);
  while (Atomics.load(go, 1) < 2) await new Promise((resolve) => setTimeout(resolve, 1));
  const begin = performance.timeOrigin + performance.now();
  Atomics.store(go, 0, 1);
  Atomics.notify(go, 0);
  const [{ received, end }] = await Promise.all([consumer, producer]);
  if (received !== items) throw new Error(`${transport} delivered ${received} of ${items}`);
  return end - begin;
}

/** A worker produces, the main thread consumes without blocking: `await queue.get()` vs a port's 'message' events. */
async function toMainRun(transport, items, value) {
  const start = new SharedArrayBuffer(8);
  let job;
  let transfer = [];
  let queue;
  let port;
  if (transport === 'SharedQueue') {
    queue = new SharedQueue({ byteLength: 1 << 20 });
    job = { queue: encode(queue) };
  } else {
    const channel = new MessageChannel();
    port = channel.port2;
    job = { port: channel.port1 };
    transfer = [channel.port1];
  }
  const received = new Promise((resolve) => {
    if (!port) return resolve(null);
    let count = 0;
    port.on('message', () => {
      if (++count === items) resolve(performance.timeOrigin + performance.now());
    });
  });
  const producer = inWorker({ role: 'queueProducer', transport, items, value, start, ...job }, transfer);
  const go = new Int32Array(start);
  Atomics.add(go, 1, 1); // the main thread is ready too
  while (Atomics.load(go, 1) < 2) await new Promise((resolve) => setTimeout(resolve, 1));
  const begin = performance.timeOrigin + performance.now();
  Atomics.store(go, 0, 1);
  Atomics.notify(go, 0);
  let end;
  if (queue) {
    for (let i = 0; i < items; i++) await queue.get();
    end = performance.timeOrigin + performance.now();
  } else {
    end = await received;
    port.close();
  }
  await producer;
  return end - begin;
}

async function main() {
  const args = process.argv.slice(2);
  const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.split('=')[1] ?? 5);
  const quick = args.includes('--quick');
  const scale = quick ? 0.1 : 1;
  const N_UNCONTENDED = Math.round(5_000_000 * scale);
  const N_ASYNC = Math.round(500_000 * scale);
  const N_CONTENDED = Math.round(200_000 * scale);
  const N_QUEUE = Math.round(200_000 * scale);
  const values = { 'small (number)': 42, 'small object': { id: 7, name: 'job', ok: true }, '1 KiB string': 'x'.repeat(1024) };

  const samples = {};
  const add = (key, value) => (samples[key] ??= []).push(value);
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`round ${round + 1}/${rounds}\n`);
    // Interleave the contestants of each comparison, so load drifts hit both.
    for (const kind of ['bare', 'Lock']) {
      add(`uncontended worker ${kind}`, (await inWorker({ role: 'uncontended', kind, iterations: N_UNCONTENDED })) / N_UNCONTENDED);
    }
    for (const kind of ['bare', 'tryAcquire', 'async']) {
      const n = kind === 'async' ? N_ASYNC : N_UNCONTENDED;
      add(`uncontended main ${kind}`, (await mainThreadUncontended(kind, n)) / n);
    }
    for (const threads of [2, 4]) {
      for (const kind of ['bare', 'Lock']) {
        add(`contended ${threads} ${kind}`, (await contendedRun(kind, threads, N_CONTENDED)) / (threads * N_CONTENDED));
      }
    }
    for (const [label, value] of Object.entries(values)) {
      for (const transport of ['SharedQueue', 'postMessage', 'postMessage (sync receive)']) {
        add(`queue ${label} ${transport}`, N_QUEUE / ((await queueRun(transport, N_QUEUE, value)) / 1000));
      }
      for (const transport of ['SharedQueue', 'postMessage']) {
        add(`to main ${label} ${transport}`, N_QUEUE / ((await toMainRun(transport, N_QUEUE, value)) / 1000));
      }
    }
  }

  const ns = (key) => median(samples[key]) * 1e6; // ms per op -> ns per op
  const perSecond = (key) => median(samples[key]);
  const lockRows = [
    ['uncontended, worker: acquireSync + release', ns('uncontended worker bare'), ns('uncontended worker Lock')],
    ['uncontended, main thread: tryAcquire + release', ns('uncontended main bare'), ns('uncontended main tryAcquire')],
    ['uncontended, main thread: await acquire() + release', ns('uncontended main bare'), ns('uncontended main async')],
    ['contended, 2 workers: acquireSync + increment + release', ns('contended 2 bare'), ns('contended 2 Lock')],
    ['contended, 4 workers: acquireSync + increment + release', ns('contended 4 bare'), ns('contended 4 Lock')],
  ].map(([what, bare, lock]) => ({ what, bareNsPerOp: bare, lockNsPerOp: lock, ratio: lock / bare }));
  const queueRows = Object.keys(values).map((label) => {
    const shared = perSecond(`queue ${label} SharedQueue`);
    const post = perSecond(`queue ${label} postMessage`);
    const postSync = perSecond(`queue ${label} postMessage (sync receive)`);
    return {
      value: label,
      sharedQueuePerSec: shared,
      postMessagePerSec: post,
      postMessageSyncReceivePerSec: postSync,
      ratio: shared / post,
    };
  });
  const toMainRows = Object.keys(values).map((label) => {
    const shared = perSecond(`to main ${label} SharedQueue`);
    const post = perSecond(`to main ${label} postMessage`);
    return { value: label, sharedQueuePerSec: shared, postMessagePerSec: post, ratio: shared / post };
  });

  const machine = {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    loadavg: os.loadavg(),
    date: new Date().toISOString(),
    rounds,
    iterations: { uncontended: N_UNCONTENDED, async: N_ASYNC, contendedPerThread: N_CONTENDED, queueItems: N_QUEUE },
  };
  const fmt = (n, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const md = [
    '# tandem sync benchmarks',
    '',
    `Node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}), load ${machine.loadavg.map((l) => l.toFixed(2)).join(' ')}, ` +
      `${machine.date}.`,
    `Median of ${rounds} interleaved rounds. Produced by \`node bench/sync.mjs\`.`,
    '',
    '## Lock vs a bare Atomics.compareExchange spin lock (ns per acquire/release, lower is better)',
    '',
    '| case | bare spin lock | tandem Lock | Lock / bare |',
    '| --- | ---: | ---: | ---: |',
    ...lockRows.map((r) => `| ${r.what} | ${fmt(r.bareNsPerOp)} | ${fmt(r.lockNsPerOp)} | ${fmt(r.ratio, 2)}x |`),
    '',
    'Goal: uncontended Lock within 2x of the bare lock. The bare lock spins forever, tracks no owner and has no',
    'timeout, deadlock detection or sleeping waiters; contended, it burns CPU where Lock sleeps.',
    '',
    '## SharedQueue vs postMessage, one producer thread to one consumer thread (values per second, higher is better)',
    '',
    '| value | SharedQueue (putSync/getSync) | postMessage (on "message") | postMessage (receiveMessageOnPort spin) | SharedQueue / ' +
      'postMessage |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...queueRows.map(
      (r) =>
        `| ${r.value} | ${fmt(r.sharedQueuePerSec, 0)} | ${fmt(r.postMessagePerSec, 0)} | ${fmt(r.postMessageSyncReceivePerSec, 0)} | ` +
        `${fmt(r.ratio, 2)}x |`,
    ),
    '',
    'Goal: SharedQueue >= postMessage for small values. Timed from both workers ready to the last value received.',
    '',
    '## Worker to the main thread, which must not block (values per second, higher is better)',
    '',
    '| value | SharedQueue (await get()) | postMessage (on "message") | SharedQueue / postMessage |',
    '| --- | ---: | ---: | ---: |',
    ...toMainRows.map((r) => `| ${r.value} | ${fmt(r.sharedQueuePerSec, 0)} | ${fmt(r.postMessagePerSec, 0)} | ${fmt(r.ratio, 2)}x |`),
    '',
  ].join('\n');
  process.stdout.write(md);
  if (!quick) {
    const dir = new URL('./', import.meta.url);
    writeFileSync(
      new URL('results-sync.json', dir),
      JSON.stringify({ machine, lock: lockRows, queue: queueRows, queueToMain: toMainRows, samples }, null, 2),
    );
    writeFileSync(new URL('results-sync.md', dir), md);
  }
}
