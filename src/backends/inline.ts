import { InvalidTaskError } from '../errors.js';
import { registeredTask } from '../task.js';
import { WorkerRuntime } from '../worker/runtime.js';
import { loadTask } from '../worker/task-loader.js';
import type { Backend, SpawnSpec, WorkerEvents, WorkerHandle } from './backend.js';

/**
 * Tasks run on the caller's own event loop, a bounded number at a time: the
 * right home for I/O-bound work (HTTP calls, file reads, queries), where a
 * thread or process would only add copying. Arguments are passed as they are,
 * not copied. One runtime serves the whole pool; its concurrency is the pool
 * size times `concurrencyPerWorker`.
 */
export const inlineBackend: Backend = {
  kind: 'inline',
  reportsStart: true,
  preemptible: false,
  boundary: 'none',
  singleHandleConcurrency: (size, concurrencyPerWorker) => size * concurrencyPerWorker,
  spawn(_spec: SpawnSpec, events: WorkerEvents): WorkerHandle {
    let alive = true;
    const runtime = new WorkerRuntime({
      // Hops through a microtask both ways, so the pool never re-enters itself.
      send: (batch) => {
        queueMicrotask(() => {
          if (alive) events.message(batch);
        });
      },
      exit: () => stop('exit'),
      sameThread: true,
      resolveTask: (definition) => {
        if (definition.kind === 'source') return loadTask(definition);
        const fn = registeredTask(definition.module, definition.index);
        if (!fn) throw new InvalidTaskError(`task #${definition.index} of ${definition.module} is not registered in this thread`);
        return fn;
      },
    });
    const stop = (reason: 'exit' | 'killed'): void => {
      if (!alive) return;
      alive = false;
      queueMicrotask(() => events.exit({ exitCode: 0, signal: null, reason, error: null }));
    };
    return {
      send: (batch) => {
        queueMicrotask(() => {
          if (alive) runtime.handle(batch);
        });
      },
      kill: () => stop('killed'),
      setRef: () => {},
    };
  },
};
