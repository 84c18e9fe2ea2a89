// A worker host of bench/redis.mjs: `node redis-worker.mjs tandem|plain URL QUEUE`.
//   tandem: `tandem worker` (runWorker) with a local pool of 1 thread, serving bench/redis-tasks.mjs;
//   plain:  a plain BullMQ Worker running the same function, one job per item.
import { fileURLToPath } from 'node:url';
import { runWorker } from 'tandem';

const [role, url, queue] = process.argv.slice(2);

if (role === 'tandem') {
  const log = (line) => {
    if (line.includes('serving queue')) process.send?.('ready');
  };
  await runWorker({ redis: url, queue, tasks: [fileURLToPath(new URL('./redis-tasks.mjs', import.meta.url))], size: 1, log });
} else {
  const { Worker } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  // Concurrency 64: one job per item is latency-bound, so many are fetched at once (BullMQ's advice for tiny jobs).
  const worker = new Worker(queue, async (job) => job.data.n + 1, { connection, concurrency: 64 });
  await worker.waitUntilReady();
  process.send?.('ready');
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await worker.close();
  connection.disconnect();
}
