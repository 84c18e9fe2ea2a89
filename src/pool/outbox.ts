import { type Batch, FRAME_FIELDS } from '../protocol.js';
import type { Worker } from './worker.js';

/**
 * Coalesces the frames sent to each worker in one tick into one message per
 * worker, sent from a microtask: a loop of 10k submits costs a handful of
 * postMessage calls instead of 10k (bench: "submit 100k trivial").
 */
export class Outbox {
  #dirty: Worker[] = [];
  #scheduled = false;
  readonly #flush = (): void => this.flush();
  /** A frame that could not be sent even alone: the scheduler fails its call. */
  readonly #unsendable: (worker: Worker, frame: unknown[], cause: unknown) => void;

  constructor(unsendable: (worker: Worker, frame: unknown[], cause: unknown) => void) {
    this.#unsendable = unsendable;
  }

  /** Appends one frame to a worker's batch. */
  push(worker: Worker, ...frame: unknown[]): void {
    worker.outbox.push(...frame);
    this.touched(worker);
  }

  /** Call after pushing to `worker.outbox` directly (the hot path does, to skip the rest array). */
  touched(worker: Worker): void {
    if (!worker.dirty) {
      worker.dirty = true;
      this.#dirty.push(worker);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  flush(): void {
    this.#scheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const worker of dirty) {
      worker.dirty = false;
      const batch = worker.outbox;
      const transfer = worker.transfer;
      worker.outbox = [];
      worker.transfer = null;
      if (worker.state === 'exited') continue;
      try {
        worker.handle.send(batch, transfer ?? undefined);
      } catch (error) {
        this.#sendOneByOne(worker, batch, error);
      }
    }
  }

  /** The batch could not be serialized despite the checks at submit: send frames alone, so only the bad ones fail. */
  #sendOneByOne(worker: Worker, batch: Batch, cause: unknown): void {
    for (let i = 0; i < batch.length; ) {
      const width = 1 + FRAME_FIELDS[batch[i] as number];
      const frame = batch.slice(i, i + width);
      i += width;
      try {
        worker.handle.send(frame);
      } catch {
        this.#unsendable(worker, frame, cause);
      }
    }
  }
}
