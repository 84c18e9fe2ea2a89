import type { Job } from './job.js';
import { timerDelay } from '../timer.js';

/** A job's deadline (performance.now() time) in the heap. */
interface Entry {
  at: number;
  job: Job;
}

/**
 * Timeouts of running jobs, kept in a min-heap behind a single timer: a
 * thousand calls with a timeout cost one armed setTimeout, not a thousand.
 * Entries of jobs that finished in time are dropped when they surface: an
 * entry holds only while its job is still on a worker with that very deadline.
 */
export class Deadlines {
  #heap: Entry[] = [];
  #timer: NodeJS.Timeout | null = null;
  #armedFor = Infinity;
  readonly #expire: (job: Job) => void;

  constructor(expire: (job: Job) => void) {
    this.#expire = expire;
  }

  add(job: Job, deadline: number): void {
    job.deadline = deadline;
    const heap = this.#heap;
    const entry = { at: deadline, job };
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= deadline) break;
      heap[i] = heap[parent];
      heap[parent] = entry;
      i = parent;
    }
    if (deadline < this.#armedFor) this.#arm(deadline);
  }

  clear(): void {
    this.#heap = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#armedFor = Infinity;
  }

  #arm(deadline: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#armedFor = deadline;
    this.#timer = setTimeout(() => this.#fire(), timerDelay(deadline - performance.now()));
    // A pending call keeps the process alive through its worker, not through this timer.
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = null;
    this.#armedFor = Infinity;
    const now = performance.now();
    const heap = this.#heap;
    while (heap.length > 0) {
      const { at, job } = heap[0];
      // The job finished in time, or runs again under a newer deadline.
      if (job.deadline !== at || job.worker === null) {
        this.#pop();
        continue;
      }
      if (at > now) {
        this.#arm(at);
        return;
      }
      this.#pop();
      job.deadline = 0;
      this.#expire(job);
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && heap[left].at < heap[smallest].at) smallest = left;
      if (right < heap.length && heap[right].at < heap[smallest].at) smallest = right;
      if (smallest === i) return;
      heap[i] = heap[smallest];
      heap[smallest] = last;
      i = smallest;
    }
  }
}
