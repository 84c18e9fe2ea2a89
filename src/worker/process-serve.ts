// A child-process worker: wires the runtime to the IPC channel, and makes
// sure the process never outlives its parent. Started by process-entry.ts, or
// by an app's bundle started as a worker (bundle-entry.ts).
import { Worker } from 'node:worker_threads';
import './shared-kinds.js';
import { W_DYING } from '../protocol.js';
import { WorkerRuntime } from './runtime.js';
import { markWorkerThread } from './current.js';

/** Serves the pool that started this process. */
export function serveProcess(): void {
  markWorkerThread();

  if (typeof process.send !== 'function') {
    process.stderr.write('tandem: this file is started by a tandem Pool with the process backend, not by hand\n');
    process.exit(2);
  }

  const runtime = new WorkerRuntime({
    send: (batch) => {
      process.send!(batch);
    },
    exit: (code) => process.exit(code),
  });
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
  process.on('exit', () => sayLastWords(null));
  // A Ctrl-C in a terminal reaches the whole process group: the pool, not the
  // terminal, decides when a worker stops (a CLI lets running calls finish).
  process.on('SIGINT', () => {});
  // The parent closed the channel (it exited, or closed the pool): nothing is
  // left to report to.
  process.on('disconnect', () => process.exit(0));

  /*
   * 'disconnect' needs a free event loop, and a task may hold it for minutes.
   * A small watchdog thread checks the parent id instead: when the parent dies
   * (even by SIGKILL) the child is re-parented, and the watchdog kills the
   * whole process from its own thread.
   */
  const watchdog = new Worker(
    `const { workerData } = require('node:worker_threads');
     setInterval(() => {
       if (process.ppid !== workerData.parent) process.kill(workerData.self, 'SIGKILL');
     }, 500);`,
    {
      eval: true,
      workerData: { parent: process.ppid, self: process.pid },
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
      stdout: false,
      stderr: false,
      env: {},
      // Loaders the caller runs under (tsx) are not needed to watch a number.
      execArgv: [],
    },
  );
  watchdog.unref();
}
