import { type Job, QUEUED, NEW } from './job.js';

/**
 * Jobs waiting for a worker: FIFO within a priority, higher priorities first.
 * Removal (a cancelled job) is lazy: the job is marked and skipped when it
 * reaches the head, so cancel is O(1) however long the queue.
 */
export class TaskQueue {
  #buckets = new Map<number, Deque>();
  /** Priorities present, highest first. Almost always just [0]. */
  #priorities: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(job: Job): void {
    this.#bucket(job.priority).push(job);
    job.place = QUEUED;
    this.#size++;
  }

  /** Puts a job back at the head of its priority (a retry, or a call a dead worker never started). */
  pushFront(job: Job): void {
    this.#bucket(job.priority).unshift(job);
    job.place = QUEUED;
    this.#size++;
  }

  /** The next job without taking it, or undefined. */
  peek(): Job | undefined {
    for (let p = 0; p < this.#priorities.length; p++) {
      const job = this.#buckets.get(this.#priorities[p])!.peek();
      if (job !== undefined) return job;
    }
    return undefined;
  }

  /** The next job, or undefined. */
  shift(): Job | undefined {
    for (let p = 0; p < this.#priorities.length; p++) {
      const bucket = this.#buckets.get(this.#priorities[p])!;
      let job: Job | undefined;
      while ((job = bucket.shift()) !== undefined) {
        if (job.place !== QUEUED) continue; // removed while waiting
        job.place = NEW;
        this.#size--;
        return job;
      }
    }
    return undefined;
  }

  remove(job: Job): boolean {
    if (job.place !== QUEUED) return false;
    job.place = NEW;
    this.#size--;
    return true;
  }

  /** Empties the queue, returning the jobs still waiting in order. */
  drain(): Job[] {
    const jobs: Job[] = [];
    let job: Job | undefined;
    while ((job = this.shift()) !== undefined) jobs.push(job);
    return jobs;
  }

  #bucket(priority: number): Deque {
    let bucket = this.#buckets.get(priority);
    if (!bucket) {
      bucket = new Deque();
      this.#buckets.set(priority, bucket);
      this.#priorities.push(priority);
      this.#priorities.sort((a, b) => b - a);
    }
    return bucket;
  }
}

/** Array with a moving head: O(1) shift without Array#shift's copying. */
class Deque {
  #items: (Job | undefined)[] = [];
  #head = 0;

  push(job: Job): void {
    this.#items.push(job);
  }

  unshift(job: Job): void {
    if (this.#head > 0) this.#items[--this.#head] = job;
    else this.#items.unshift(job);
  }

  /** The first job still queued; removed ones at the head are dropped on the way. */
  peek(): Job | undefined {
    while (this.#head < this.#items.length) {
      const job = this.#items[this.#head]!;
      if (job.place === QUEUED) return job;
      this.shift();
    }
    return undefined;
  }

  shift(): Job | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const job = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return job;
  }
}
