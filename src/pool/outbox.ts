import { type Batch, FRAME_FIELDS } from '../protocol.js';
import type { WorkerSlot } from './worker-slot.js';

/**
 * Coalesces the frames sent to each worker in one tick into one message per
 * worker, sent from a microtask: a loop of 10k submits costs a handful of
 * postMessage calls instead of 10k (bench: "submit 100k trivial").
 */
export class Outbox {
  #dirty: WorkerSlot[] = [];
  #scheduled = false;
  readonly #flush = (): void => this.flush();
  /** A frame that could not be sent even alone: the scheduler fails its call. */
  readonly #unsendable: (slot: WorkerSlot, frame: unknown[], cause: unknown) => void;

  constructor(unsendable: (slot: WorkerSlot, frame: unknown[], cause: unknown) => void) {
    this.#unsendable = unsendable;
  }

  /** Appends one frame to a worker's batch. */
  push(slot: WorkerSlot, ...frame: unknown[]): void {
    slot.outbox.push(...frame);
    this.touched(slot);
  }

  /** Call after pushing to `slot.outbox` directly (the hot path does, to skip the rest array). */
  touched(slot: WorkerSlot): void {
    if (!slot.dirty) {
      slot.dirty = true;
      this.#dirty.push(slot);
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
    for (const slot of dirty) {
      slot.dirty = false;
      const batch = slot.outbox;
      const transfer = slot.transfer;
      slot.outbox = [];
      slot.transfer = null;
      if (slot.state === 'exited') continue;
      try {
        slot.handle.send(batch, transfer ?? undefined);
      } catch (error) {
        this.#sendOneByOne(slot, batch, error);
      }
    }
  }

  /** The batch could not be serialized despite the checks at submit: send frames alone, so only the bad ones fail. */
  #sendOneByOne(slot: WorkerSlot, batch: Batch, cause: unknown): void {
    for (let i = 0; i < batch.length; ) {
      const width = 1 + FRAME_FIELDS[batch[i] as number]!;
      const frame = batch.slice(i, i + width);
      i += width;
      try {
        slot.handle.send(frame);
      } catch {
        this.#unsendable(slot, frame, cause);
      }
    }
  }
}
