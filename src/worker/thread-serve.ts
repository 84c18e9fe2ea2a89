// A thread worker: wires the runtime to the parent port. Started by
// thread-entry.ts, or by an app's bundle started as a worker (bundle-entry.ts).
import { parentPort, workerData } from 'node:worker_threads';
import './shared-kinds.js';
import { W_DYING } from '../protocol.js';
import { WorkerRuntime } from './runtime.js';
import { markWorkerThread } from './current.js';

/** Serves the pool that started this thread. */
export function serveThread(): void {
  markWorkerThread();

  const port = parentPort!;
  const shared = workerData as { claims?: SharedArrayBuffer; rescue?: SharedArrayBuffer } | null;
  const runtime = new WorkerRuntime(
    {
      send: (batch) => port.postMessage(batch),
      // Ends only this thread, even if a task left timers or sockets open.
      exit: (code) => process.exit(code),
      // Copies of waiting results, which the pool reads if this thread gets stuck (src/worker/rescue.ts).
      ...(shared?.rescue ? { rescue: shared.rescue } : {}),
    },
    // The claim words the pool shares with this thread (src/worker/claims.ts).
    shared?.claims ?? null,
  );
  port.on('message', (batch: unknown[]) => runtime.handle(batch));

  /**
   * Last words: an uncaught error, or process.exit() from a task, ends the
   * thread; before it goes, the results it still holds and the calls it was
   * running reach the pool, which then blames exactly those calls. (Messages
   * posted before a thread exits are delivered before its 'exit' event.)
   */
  function sayLastWords(error: unknown): void {
    const words = runtime.lastWords(error);
    if (words === null) return;
    try {
      port.postMessage(words);
    } catch {
      // A result in the batch cannot be cloned: the running calls still count.
      port.postMessage(words.slice(words.lastIndexOf(W_DYING)));
    }
  }
  process.on('uncaughtException', (error) => {
    sayLastWords(error);
    process.exit(1);
  });
  process.on('exit', () => sayLastWords(null));
}
