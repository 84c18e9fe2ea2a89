// The failure policy (src/pool/failure.ts) on its own: which calls of a dead
// worker ran, which never started. The end-to-end cases are in
// crash-blame.test.ts; this one needs an order of events (a retried call sent
// to another worker before the first one's exit is seen) that a real pool
// shows only now and then, under load.
import { describe, expect, it } from 'vitest';
import type { WorkerHandle } from '../../src/backends/backend.js';
import { fatesOf } from '../../src/pool/failure.js';
import { Job, RUN, type JobOwner } from '../../src/pool/job.js';
import { Worker } from '../../src/pool/worker.js';

const owner: JobOwner = { jobDone: () => {}, jobFailed: () => {} };
let ids = 0;
const job = (): Job => new Job(++ids, RUN, 0, [], 0, 0, 0, 1, undefined, null, owner, 0);

/** A worker as the process backend has it: no claim words the pool can read after its death. */
function processWorker(id: number): Worker {
  const worker = new Worker(id, 1);
  worker.handle = { send: () => {}, kill: () => {}, setRef: () => {} } as unknown as WorkerHandle;
  return worker;
}

describe('the failure policy', () => {
  it('calls sent behind a call that timed out never started, even once that call was retried on another worker', () => {
    const first = processWorker(1);
    const second = processWorker(2);
    // The second worker has served more calls, so the retried call gets a higher seq there.
    for (let i = 0; i < 10; i++) {
      const done = job();
      second.assign(done, Infinity);
      second.release(done);
    }
    const hang = job();
    first.assign(hang, Infinity);
    hang.started = true;
    const behind = [job(), job(), job(), job()];
    for (const waiting of behind) first.assign(waiting, Infinity);
    // What the scheduler does at the timeout: release it, remember it, retry it elsewhere at once.
    first.release(hang);
    first.timedOutSeq = hang.seq;
    second.assign(hang, Infinity);
    expect(hang.seq).toBeGreaterThan(behind[0].seq);

    const fates = fatesOf(first, first.releaseAll());
    expect(fates.unstarted).toEqual(behind);
    expect([...fates.running, ...fates.lost, ...fates.unknown]).toEqual([]);
  });
});
