// items/s through Redis: tandem `pool.map` over 100k trivial items with two local
// `tandem worker` hosts, vs a plain BullMQ queue + two plain BullMQ workers moving
// the same items one job each (results read back through QueueEvents, BullMQ's own
// way). Same Redis, same run, rounds interleaved; median of the rounds.
// Writes bench/results-redis.json and bench/results-redis.md. Not a test: nothing asserts.
//
//   npm run build && node bench/redis.mjs [--rounds 3] [--items 100000] [--plain-items 10000]
import { fork, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'tandem';
import { inc } from './redis-tasks.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    items: { type: 'string', default: '100000' },
    'plain-items': { type: 'string', default: '10000' },
  },
});
const ROUNDS = Number(values.rounds);
const ITEMS = Number(values.items);
const PLAIN_ITEMS = Number(values['plain-items']);
const here = (file) => new URL(file, import.meta.url);

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(what, check, deadlineMs = 30_000) {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const ping = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(String(data).startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });

function startHost(role, url, queue) {
  const child = fork(here('./redis-worker.mjs'), [role, url, queue], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${role} worker exited (${code}) before serving`)));
  });
  return { child, ready };
}

async function stopHosts(hosts) {
  await Promise.all(
    hosts.map(
      ({ child }) =>
        new Promise((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
}

async function tandemRound(url, queue, items) {
  const pool = new Pool({ backend: 'redis', redis: url, queue });
  await pool.map(inc, items.slice(0, 10_000)); // warm: connections, task names, JIT on both sides
  const start = performance.now();
  const results = await pool.map(inc, items);
  const ms = performance.now() - start;
  await pool.close();
  if (results.length !== items.length || results[items.length - 1] !== items.length) throw new Error('tandem: wrong results');
  return (items.length / ms) * 1000;
}

async function plainRound(url, queue, count) {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  // A long enough event stream that no completion is trimmed before it is read.
  const jobs = new Queue(queue, { connection, streams: { events: { maxLen: count * 4 } } });
  const events = new QueueEvents(queue, { connection: { url } });
  await events.waitUntilReady();
  const results = new Map();
  let expected = 0;
  let done = () => {};
  events.on('completed', ({ jobId, returnvalue }) => {
    results.set(jobId, returnvalue);
    if (results.size === expected) done();
  });
  /** Adds n jobs (one per item, addBulk by 1000) and resolves once all completed. */
  const moveItems = async (n, prefix) => {
    results.clear();
    expected = n;
    const finished = new Promise((resolve) => (done = resolve));
    for (let start = 0; start < n; start += 1_000) {
      const batch = [];
      for (let i = start; i < Math.min(n, start + 1_000); i++)
        batch.push({ name: 'inc', data: { n: i }, opts: { jobId: `${prefix}-${i}`, removeOnComplete: true } });
      await jobs.addBulk(batch);
    }
    await finished;
  };
  await moveItems(500, `warm-${Date.now()}`);
  const start = performance.now();
  await moveItems(count, `run-${Date.now()}`);
  const ms = performance.now() - start;
  await events.close();
  await jobs.close();
  connection.disconnect();
  return (count / ms) * 1000;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));

const began = Date.now();
const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
  stdio: 'ignore',
});
const hosts = [];
try {
  await until('redis-server', () => ping(port));
  const url = `redis://127.0.0.1:${port}`;
  for (const [role, queue] of [
    ['tandem', 'bench-tandem'],
    ['tandem', 'bench-tandem'],
    ['plain', 'bench-plain'],
    ['plain', 'bench-plain'],
  ])
    hosts.push(startHost(role, url, queue));
  await Promise.all(hosts.map((host) => host.ready));
  const items = Array.from({ length: ITEMS }, (_, i) => i);
  const tandem = [];
  const plain = [];
  const loads = [];
  for (let round = 0; round < ROUNDS; round++) {
    loads.push(loadavg()[0]);
    tandem.push(await tandemRound(url, 'bench-tandem', items));
    plain.push(await plainRound(url, 'bench-plain', PLAIN_ITEMS));
    console.log(`round ${round + 1}: tandem ${fmt(tandem.at(-1))} items/s, plain BullMQ ${fmt(plain.at(-1))} items/s`);
  }
  const result = {
    node: process.version,
    cpu: cpus()[0]?.model,
    cpus: availableParallelism(),
    date: new Date().toISOString(),
    seconds: Math.round((Date.now() - began) / 1000),
    rounds: ROUNDS,
    loadavg1: { min: Math.min(...loads), max: Math.max(...loads) },
    tandem: { items: ITEMS, itemsPerSecond: tandem, median: median(tandem) },
    plainBullmq: { items: PLAIN_ITEMS, itemsPerSecond: plain, median: median(plain) },
    ratio: median(tandem) / median(plain),
    goal: 10,
  };
  writeFileSync(here('./results-redis.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    here('./results-redis.md'),
    `# tandem over Redis: map vs one BullMQ job per item

Node ${result.node}, ${result.cpu}, ${result.cpus} CPUs; redis-server on 127.0.0.1. ${ROUNDS} rounds, interleaved; median.
Generated ${result.date} by \`node bench/redis.mjs\` in ${result.seconds} s. 1-min load average ` +
      `${result.loadavg1.min.toFixed(1)}–${result.loadavg1.max.toFixed(1)} while rounds started.

Both sides run two worker processes on this machine with the same trivial task \`(n) => n + 1\`:
two \`tandem worker\` hosts (local pool of 1 thread each) vs two plain BullMQ Workers (concurrency 64 each).

| how | items | items/s (median) | rounds |
| --- | ---: | ---: | --- |
| tandem \`pool.map(inc, items)\`, backend 'redis', chunksize auto | ${fmt(ITEMS)} | ${fmt(result.tandem.median)} | ` +
      `${tandem.map(fmt).join(', ')} |
| plain BullMQ, one job per item (\`addBulk\` by 1000, results via QueueEvents) | ${fmt(PLAIN_ITEMS)} | ` +
      `${fmt(result.plainBullmq.median)} | ${plain.map(fmt).join(', ')} |

**tandem ÷ plain: ${result.ratio.toFixed(1)}×** (goal ≥ ${result.goal}×). The plain queue moves ${fmt(PLAIN_ITEMS)} items per round ` +
      `instead of ${fmt(ITEMS)} (at its rate, ${fmt(ITEMS)} would take ${(ITEMS / result.plainBullmq.median).toFixed(0)} s); items/s ` +
      `compares all the same.
`,
  );
  console.log(`tandem ÷ plain BullMQ: ${result.ratio.toFixed(1)}× (goal ≥ 10×)`);
} finally {
  await stopHosts(hosts);
  redis.kill('SIGKILL');
}
