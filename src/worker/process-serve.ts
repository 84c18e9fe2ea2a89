// A child-process worker: wires the runtime to the IPC channel, and makes
// sure the process never outlives its parent. Started by process-entry.ts, or
// by an app's bundle started as a worker (bundle-entry.ts).
import { writeSync } from 'node:fs';
import { serialize } from 'node:v8';
import { Worker } from 'node:worker_threads';
import './shared-kinds.js';
import { W_DYING } from '../protocol.js';
import { RUNTIME } from '../runtimes.js';
import { WorkerRuntime } from './runtime.js';
import { markWorkerThread } from './current.js';
import { CLAIM_SLOTS, LAST_WORDS_TICKET, RESCUE_TICKET, SIDE_FD_ENV, SIDE_RECORD_BYTES, claimTakeBack } from './claims.js';
import { RESCUE_BYTES, RESCUE_CHECK_MS, RESCUE_LENGTH_WORD, rescueTake } from './rescue.js';
import { SHARE_SOCKET_ENV, serveRemoteObjects, settleRemoteObjects } from '../share/client.js';
import { HOST_CHILD_ENV, type HostConfig, serveHostObjectsInChild } from '../share/redis/link.js';

/** Serves the pool that started this process. */
export function serveProcess(): void {
  markWorkerThread();

  if (typeof process.send !== 'function') {
    process.stderr.write('tandem: this file is started by a tandem Pool with the process backend, not by hand\n');
    process.exit(2);
  }

  // The claim words are shared with the keeper thread below, which takes calls
  // back for the pool while this thread may be busy (src/worker/claims.ts).
  const sideFd = Number(process.env[SIDE_FD_ENV] ?? NaN);
  delete process.env[SIDE_FD_ENV];
  // Shared objects the caller passes arrive as remote objects served over this socket.
  const sharePath = process.env[SHARE_SOCKET_ENV];
  delete process.env[SHARE_SOCKET_ENV];
  if (sharePath) serveRemoteObjects(sharePath);
  // On a `tandem worker` host: the callers' objects in its jobs are reached over Redis (src/share/redis/link.ts).
  const host = process.env[HOST_CHILD_ENV];
  delete process.env[HOST_CHILD_ENV];
  if (host) serveHostObjectsInChild(JSON.parse(host) as HostConfig);
  const claims = Number.isInteger(sideFd) ? new SharedArrayBuffer(CLAIM_SLOTS * Int32Array.BYTES_PER_ELEMENT) : null;
  // Copies of waiting results, which the keeper sends on the side pipe if this thread gets stuck (src/worker/rescue.ts).
  const rescue = claims === null ? null : new SharedArrayBuffer(RESCUE_BYTES);
  const runtime = new WorkerRuntime(
    {
      send: (batch) => {
        // Locks its tasks released without waiting are free before their results arrive.
        settleRemoteObjects();
        process.send!(batch);
      },
      exit: (code) => process.exit(code),
      ...(rescue === null ? {} : { rescue }),
    },
    claims,
  );
  process.on('message', (batch: unknown[]) => runtime.handle(batch));

  /**
   * Last words: before a process dies of an uncaught error or of a task's
   * process.exit(), the results it still holds and the calls it was running
   * reach the pool, which then blames exactly those calls. The channel writes a
   * small message at once, so it gets out even from an 'exit' listener.
   */
  function sayLastWords(error: unknown, then: () => void = () => {}): void {
    const words = runtime.lastWords(error);
    if (words === null) return then();
    try {
      try {
        process.send!(words, then);
      } catch {
        // A result in the batch cannot be serialized: the running calls still count.
        process.send!(words.slice(words.lastIndexOf(W_DYING)), then);
      }
    } catch {
      then();
    }
  }
  process.on('uncaughtException', (error) => {
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    sayLastWords(error, () => process.exit(1));
  });
  // Deno's channel writes later, on its event loop, which ends with the
  // process: words sent from an 'exit' listener are lost there. They go on the
  // side pipe instead, written before the listener returns.
  process.on('exit', () => (RUNTIME.name === 'deno' && Number.isInteger(sideFd) ? writeLastWords(sideFd) : sayLastWords(null)));

  function writeLastWords(fd: number): void {
    const words = runtime.lastWords(null);
    if (words === null) return;
    let body: Buffer;
    try {
      body = serialize(words);
    } catch {
      body = serialize(words.slice(words.lastIndexOf(W_DYING)));
    }
    const record = Buffer.allocUnsafe(SIDE_RECORD_BYTES + body.length);
    record.writeDoubleLE(LAST_WORDS_TICKET, 0);
    record.writeDoubleLE(body.length, 8);
    body.copy(record, SIDE_RECORD_BYTES);
    try {
      for (let at = 0; at < record.length; ) at += writeSync(fd, record, at);
    } catch {
      // The pool is gone, or closed the pipe: no one to tell.
    }
  }
  // A Ctrl-C in a terminal reaches the whole process group: the pool, not the
  // terminal, decides when a worker stops (a CLI lets running calls finish).
  process.on('SIGINT', () => {});
  // The parent closed the channel (it exited, or closed the pool): nothing is
  // left to report to.
  process.on('disconnect', () => process.exit(0));

  /*
   * The keeper thread. 'disconnect' needs a free event loop, and a task may
   * hold it for minutes: the keeper checks the parent id instead, and when the
   * parent dies (even by SIGKILL) the child is re-parented, and the keeper
   * kills the whole process from its own thread. For the same reason it
   * answers the pool's take-backs of calls sent ahead (the side pipe): it runs
   * claimTakeBack's own source on the claim words it shares with this thread.
   */
  const keeper = new Worker(
    `const { workerData } = require('node:worker_threads');
     setInterval(() => {
       if (process.ppid !== workerData.parent) process.kill(workerData.self, 'SIGKILL');
     }, 500);
     if (workerData.claims) {
       const claims = new Int32Array(workerData.claims);
       const takeBack = ${claimTakeBack.toString()};
       const fd = workerData.sideFd;
       // Bun cannot wrap a descriptor in a net.Socket, and Deno cannot read one with an fs stream in a thread.
       const side = workerData.fsStream
         ? { input: require('node:fs').createReadStream('', { fd, autoClose: false }), write: (b) => writeAll(require('node:fs'), b) }
         : new (require('node:net').Socket)({ fd, readable: true, writable: true });
       (side.input ?? side).on('error', () => {});
       // A rescue record may be larger than the pipe takes at once: written in parts, waiting while it is full.
       const nap = new Int32Array(new SharedArrayBuffer(4));
       function writeAll(fs, b) {
         for (let at = 0; at < b.length; ) {
           try {
             at += fs.writeSync(fd, b, at);
           } catch (error) {
             if (error.code !== 'EAGAIN') return;
             Atomics.wait(nap, 0, 0, 1);
           }
         }
       }
       let partial = Buffer.alloc(0);
       (side.input ?? side).on('data', (chunk) => {
         const data = partial.length > 0 ? Buffer.concat([partial, chunk]) : chunk;
         const answers = [];
         let at = 0;
         for (; at + 8 <= data.length; at += 8) {
           const ticket = data.readDoubleLE(at);
           const answer = Buffer.allocUnsafe(16);
           answer.writeDoubleLE(ticket, 0);
           answer.writeDoubleLE(takeBack(claims, ticket) ? 1 : 0, 8);
           answers.push(answer);
         }
         partial = data.subarray(at);
         if (answers.length > 0) side.write(Buffer.concat(answers));
       });
       // Results the main thread holds while it is stuck in a call: their copies go to the pool. It looks
       // every few ms only while copies wait; otherwise it sleeps until the main thread writes some (an
       // idle worker's keeper wakes only for the parent check).
       const take = ${rescueTake.toString()};
       const watch = { flushes: -1 };
       const copied = new Int32Array(workerData.rescue, 0, 6);
       const look = () => {
         const copies = take(workerData.rescue, watch);
         if (copies !== null) {
           const record = Buffer.allocUnsafe(${SIDE_RECORD_BYTES} + copies.length);
           record.writeDoubleLE(${RESCUE_TICKET}, 0);
           record.writeDoubleLE(copies.length, 8);
           record.set(copies, ${SIDE_RECORD_BYTES});
           side.write(record);
         }
         if (Atomics.load(copied, ${RESCUE_LENGTH_WORD}) === 0) sleep();
         else setTimeout(look, ${RESCUE_CHECK_MS});
       };
       const sleep = () => {
         const wait = Atomics.waitAsync(copied, ${RESCUE_LENGTH_WORD}, 0);
         if (wait.async) wait.value.then(() => setTimeout(look, ${RESCUE_CHECK_MS}));
         else setTimeout(look, ${RESCUE_CHECK_MS});
       };
       sleep();
     }`,
    {
      eval: true,
      workerData: { parent: process.ppid, self: process.pid, claims, rescue, sideFd, fsStream: process.versions.bun !== undefined },
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
      stdout: false,
      stderr: false,
      env: {},
      // Loaders the caller runs under (tsx) are not needed to watch a number and swap words.
      execArgv: [],
    },
  );
  keeper.unref();
}
