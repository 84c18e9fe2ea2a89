/**
 * Sharing with `tandem worker` hosts, the caller's side (the picture is in
 * ./keys.ts). A shared object given to a redis pool crosses as a marker
 * naming it (its id, as for a process worker: ../host.ts) and this caller
 * process; hosts send each operation on it back here through Redis, where a
 * share thread (./serve.ts) hands it to a server thread of the holder that
 * asked. The caller's object stays the one authority: a thread pool, a
 * process pool and a redis pool can share one Lock at the same time.
 *
 * One share thread serves every redis pool of this process on one Redis and
 * queue (they share the keys, named for the queue and this process); it
 * starts before the first job that carries a shared object is added, and
 * ends, removing every key, when the last of those pools closes.
 */
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { SharedObjectUnavailableError } from '../../errors.js';
import { collectThreadGlobals, fromMarker, registerShareable, SHARED_MARKER, type Shareable, type SharedMarker } from '../../shareable.js';
import { hearRegistrations, REMOTE_KIND, stopHearingRegistrations, toRemoteMarker } from '../host.js';
import type { Registration } from '../server.js';
import { fromWire, type WireError } from '../wire.js';
import { HOST_KIND, type HostState } from './keys.js';
import type { ServeData } from './serve.js';
import { hostObject, shareEntry } from './link.js';

/** This process as a caller that serves shared objects to hosts: part of every key it uses. */
const shareId = `${process.pid}-${randomBytes(6).toString('hex')}`;
/** Whether any shared object was ever encoded for a host: until then no job needs a share thread. */
let crossed = false;

/** The marker standing for `object` in a job for a `tandem worker` host. */
export function toHostMarker(object: Shareable): SharedMarker {
  const marker = toRemoteMarker(object);
  crossed = true;
  retag(marker);
  return marker;
}

/** A remote marker (a Condition's lock inside it too) as a host marker of this caller. */
function retag(marker: SharedMarker): void {
  marker[SHARED_MARKER] = HOST_KIND;
  const state = marker.state as HostState;
  state.caller = shareId;
  const lock = state.meta.lock as SharedMarker | undefined;
  if (lock) retag(lock);
}

/** Whether a job flagged FLAG_SHARED may carry shared objects (it may carry only instances of registered classes). */
export function sharedObjectsCrossedToHosts(): boolean {
  return crossed;
}

// On a host, a task's own object (./link.ts); in the caller, the caller's own object again when a task returns it.
registerShareable(HOST_KIND, (state) => {
  const host = state as HostState;
  const there = hostObject(host);
  if (there !== undefined) return there;
  if (host.caller === shareId) return fromMarker({ [SHARED_MARKER]: REMOTE_KIND, state: host });
  throw new SharedObjectUnavailableError(
    'a shared object of another caller process came back from a tandem worker host',
    'pass shared objects only to tasks of pools of the process that created them',
  );
});

/** The share thread of one Redis and queue, shared by the redis pools of this process that use them. */
export class RedisShare {
  readonly #url: string;
  readonly #queue: string;
  readonly #key: string;
  #users = 0;
  #worker: Worker | null = null;
  #ready: Promise<void> | null = null;
  #ended: Promise<void> | null = null;
  readonly #listener = (registration: Registration): void => this.#worker?.postMessage(['register', registration]);

  private constructor(url: string, queue: string, key: string) {
    this.#url = url;
    this.#queue = queue;
    this.#key = key;
  }

  /** The share of `url` and `queue`, taken by one more pool until it calls {@link release}. */
  static take(url: string, queue: string): RedisShare {
    const key = `${queue}\n${url}`;
    let share = shares.get(key);
    if (!share) {
      share = new RedisShare(url, queue, key);
      shares.set(key, share);
    }
    share.#users++;
    return share;
  }

  /** Resolves once hosts can reach this caller (its keys exist); rejects when Redis cannot be reached. */
  ready(): Promise<void> {
    this.#ready ??= this.#start();
    return this.#ready;
  }

  async #start(): Promise<void> {
    // A share thread of the same keys that is still closing would remove this one's keys.
    await closing.get(this.#key);
    const entry = shareEntry();
    const worker = new Worker(entry, {
      workerData: {
        role: 'serve',
        entry,
        url: this.#url,
        queue: this.#queue,
        caller: shareId,
        threadGlobals: collectThreadGlobals(),
        objects: hearRegistrations(this.#listener),
      } satisfies ServeData,
      stdout: false,
      stderr: false,
    });
    // The pool's own connections keep the caller alive while its calls run; this thread never does.
    worker.unref();
    this.#worker = worker;
    this.#ended = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('error', () => {});
    return new Promise((resolve, reject) => {
      worker.on('message', (message: unknown[]) => {
        if (message[0] === 'ready') resolve();
        else if (message[0] === 'failed') reject(fromWire(message[1] as WireError));
      });
      worker.once('exit', () =>
        reject(
          new SharedObjectUnavailableError('the thread that serves shared objects to hosts ended', 'close the pool and make a new one'),
        ),
      );
    });
  }

  /** One pool less; the last one ends the thread, which removes every key of this caller first. */
  async release(): Promise<void> {
    if (--this.#users > 0) return;
    shares.delete(this.#key);
    stopHearingRegistrations(this.#listener);
    const ended = this.#end().finally(() => {
      if (closing.get(this.#key) === ended) closing.delete(this.#key);
    });
    closing.set(this.#key, ended);
    await ended;
  }

  async #end(): Promise<void> {
    await this.#ready?.catch(() => {});
    const worker = this.#worker;
    if (!worker) return;
    worker.postMessage(['close']);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#ended, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
    clearTimeout(timer);
    await worker.terminate();
  }
}

/** How long closing waits for the share thread to remove its keys (Redis may be away). */
const CLOSE_GRACE_MS = 5_000;

const shares = new Map<string, RedisShare>();
/** Share threads removing their keys, by the keys' Redis and queue. */
const closing = new Map<string, Promise<void>>();
