/**
 * Which methods of each shared class a child process reaches through its
 * server thread, and how: the server's side (what each op does on the live
 * object in the caller) and the child's side (which members of the class
 * become requests) are listed here together, one table per class, so the
 * two cannot drift apart.
 *
 * A member is one of:
 *   'sync'   a plain method or getter: one round trip, the child's thread
 *            waiting for the reply (it may: a process worker is no caller's
 *            main thread); release(), value, add(), ...
 *   'async'  a wait's async form: a request whose reply settles a promise;
 *            its `signal` withdraws the request on the server
 *   'block'  a wait's Sync form: a round trip that waits as long as the wait
 *            does; on the server the same async wait runs, told the child
 *            blocks (for a lock: waiting for its own process is a deadlock)
 *   'get'    a getter (`getset`: with a setter): one round trip each
 */
import { Barrier } from '../sync/barrier.js';
import { Condition } from '../sync/condition.js';
import { Event } from '../sync/event.js';
import { Lock } from '../sync/lock.js';
import type { WaitingTask } from '../sync/deadlock.js';
import { acquireWordServed } from '../sync/owner-word.js';
import { RLock } from '../sync/rlock.js';
import { BoundedSemaphore, Semaphore } from '../sync/semaphore.js';
import { SharedArray } from '../shared/array.js';
import { SharedQueue } from '../shared/queue.js';
import { SharedValue } from '../shared/value.js';

export type MemberMode = 'sync' | 'async' | 'block' | 'get' | 'getset';

/**
 * What the server does for one op: `signal` aborts when the child withdraws
 * the request; `task` is the child's task that asked (deadlock reports name it).
 */
// biome-ignore lint/suspicious/noExplicitAny: one table holds the ops of every class, each written against its own class
export type ServerOp = (object: any, args: any, signal: AbortSignal | undefined, task: WaitingTask | undefined) => unknown;

export interface KindTable {
  /** The class the child's object is an instance of. */
  readonly cls: Function;
  /** Members of the class that become requests in a child, with their mode. */
  readonly members: Readonly<Record<string, MemberMode>>;
  /** The server's side of each member (getters and setters as `get:name`, `set:name`). */
  readonly ops: Readonly<Record<string, ServerOp>>;
  /** Values the child's object holds itself (they never change): name, type, length, ... */
  // biome-ignore lint/suspicious/noExplicitAny: as for ServerOp
  meta(object: any): Record<string, unknown>;
}

type Options = { timeout?: number } | undefined;
const timeoutOf = (options: Options): number | undefined => options?.timeout;

const lockMembers = {
  tryAcquire: 'sync',
  acquire: 'async',
  acquireSync: 'block',
  release: 'sync',
  locked: 'sync',
  heldByThisThread: 'sync',
  ownerDied: 'get',
  ownerThreadId: 'get',
} as const;

const lockOps: Record<string, ServerOp> = {
  tryAcquire: (o: Lock) => o.tryAcquire(),
  release: (o: Lock) => o.release(),
  locked: (o: Lock) => o.locked(),
  heldByThisThread: (o: Lock) => o.heldByThisThread(),
  'get:ownerDied': (o: Lock) => o.ownerDied,
  'get:ownerThreadId': (o: Lock) => o.ownerThreadId,
};

const semaphoreTable: KindTable = {
  cls: Semaphore,
  members: { tryAcquire: 'sync', acquire: 'async', acquireSync: 'block', release: 'sync', value: 'get', ownerDied: 'get' },
  ops: {
    tryAcquire: (o: Semaphore) => o.tryAcquire(),
    acquire: (o: Semaphore, [options]: [Options], signal) => o.acquire({ timeout: timeoutOf(options), signal }),
    acquireSync: (o: Semaphore, [options]: [Options]) => o.acquire({ timeout: timeoutOf(options) }),
    release: (o: Semaphore, [n]: [number | undefined]) => o.release(n),
    'get:value': (o: Semaphore) => o.value,
    'get:ownerDied': (o: Semaphore) => o.ownerDied,
  },
  meta: (o: Semaphore) => ({ name: o.name }),
};

export const KINDS: Readonly<Record<string, KindTable>> = {
  'tandem.Lock': {
    cls: Lock,
    members: lockMembers,
    ops: {
      ...lockOps,
      acquire: (o: Lock, [options]: [Options], signal, task) => acquireWordServed(o, timeoutOf(options), signal, 'lock', false, task),
      acquireSync: (o: Lock, [options]: [Options], _signal, task) =>
        acquireWordServed(o, timeoutOf(options), undefined, 'lock', true, task),
    },
    meta: (o: Lock) => ({ name: o.name }),
  },
  'tandem.RLock': {
    cls: RLock,
    members: { ...lockMembers, depth: 'get' },
    ops: {
      ...lockOps,
      acquire: (o: RLock, [options]: [Options], signal, task) => o.acquireServed(timeoutOf(options), signal, false, task),
      acquireSync: (o: RLock, [options]: [Options], _signal, task) => o.acquireServed(timeoutOf(options), undefined, true, task),
      'get:depth': (o: RLock) => o.depth,
    },
    meta: (o: RLock) => ({ name: o.name }),
  },
  'tandem.Semaphore': semaphoreTable,
  'tandem.BoundedSemaphore': { ...semaphoreTable, cls: BoundedSemaphore },
  'tandem.Condition': {
    cls: Condition,
    // acquire, release, name and ownerDied are the class's own: they go to its lock, itself a remote object.
    members: { wait: 'async', waitSync: 'block', notify: 'sync', notifyAll: 'sync' },
    ops: {
      wait: (o: Condition, [options]: [Options], signal) => o.wait({ timeout: timeoutOf(options), signal }),
      waitSync: (o: Condition, [options]: [Options]) => o.wait({ timeout: timeoutOf(options) }),
      notify: (o: Condition, [n]: [number | undefined]) => o.notify(n),
      notifyAll: (o: Condition) => o.notifyAll(),
    },
    // The lock is filled in by the caller's side (a marker of its own): see host.ts.
    meta: () => ({}),
  },
  'tandem.Event': {
    cls: Event,
    members: { isSet: 'sync', set: 'sync', clear: 'sync', wait: 'async', waitSync: 'block' },
    ops: {
      isSet: (o: Event) => o.isSet(),
      set: (o: Event) => o.set(),
      clear: (o: Event) => o.clear(),
      wait: (o: Event, [options]: [Options], signal) => o.wait({ timeout: timeoutOf(options), signal }),
      waitSync: (o: Event, [options]: [Options]) => o.wait({ timeout: timeoutOf(options) }),
    },
    meta: () => ({}),
  },
  'tandem.Barrier': {
    cls: Barrier,
    members: { wait: 'async', waitSync: 'block', abort: 'sync', reset: 'sync', nWaiting: 'get', broken: 'get' },
    ops: {
      wait: (o: Barrier, [options]: [Options], signal) => o.wait({ timeout: timeoutOf(options), signal }),
      waitSync: (o: Barrier, [options]: [Options]) => o.wait({ timeout: timeoutOf(options) }),
      abort: (o: Barrier) => o.abort(),
      reset: (o: Barrier) => o.reset(),
      'get:nWaiting': (o: Barrier) => o.nWaiting,
      'get:broken': (o: Barrier) => o.broken,
    },
    meta: (o: Barrier) => ({ parties: o.parties }),
  },
  'tandem.SharedValue': {
    cls: SharedValue,
    members: { value: 'getset', add: 'sync', sub: 'sync', exchange: 'sync', compareExchange: 'sync' },
    ops: {
      'get:value': (o: SharedValue) => o.value,
      'set:value': (o: SharedValue, [value]: [never]) => {
        o.value = value;
      },
      add: (o: SharedValue, [delta]: [never]) => o.add(delta),
      sub: (o: SharedValue, [delta]: [never]) => o.sub(delta),
      exchange: (o: SharedValue, [value]: [never]) => o.exchange(value),
      compareExchange: (o: SharedValue, [expected, replacement]: [never, never]) => o.compareExchange(expected, replacement),
    },
    meta: (o: SharedValue) => ({ type: o.type }),
  },
  'tandem.SharedArray': {
    cls: SharedArray,
    // `view` and iteration are the child's own (see client.ts).
    members: { load: 'sync', store: 'sync', add: 'sync', exchange: 'sync', compareExchange: 'sync', toArray: 'sync' },
    ops: {
      load: (o: SharedArray, [index]: [number]) => o.load(index),
      store: (o: SharedArray, [index, value]: [number, never]) => o.store(index, value),
      add: (o: SharedArray, [index, delta]: [number, never]) => o.add(index, delta),
      exchange: (o: SharedArray, [index, value]: [number, never]) => o.exchange(index, value),
      compareExchange: (o: SharedArray, [index, expected, replacement]: [number, never, never]) =>
        o.compareExchange(index, expected, replacement),
      // Each element read atomically, as iteration does.
      toArray: (o: SharedArray) => [...o],
    },
    meta: (o: SharedArray) => ({ type: o.type, length: o.length }),
  },
  'tandem.SharedQueue': {
    cls: SharedQueue,
    // Iteration (`for await`, drainSync) is the child's own, over get and getSync.
    members: { put: 'async', putSync: 'block', get: 'async', getSync: 'block', tryGet: 'sync', close: 'sync', size: 'get', closed: 'get' },
    ops: {
      put: (o: SharedQueue, [value, options]: [unknown, Options], signal) => o.put(value, { timeout: timeoutOf(options), signal }),
      putSync: (o: SharedQueue, [value, options]: [unknown, Options]) => o.put(value, { timeout: timeoutOf(options) }),
      get: (o: SharedQueue, [options]: [Options], signal) => o.get({ timeout: timeoutOf(options), signal }),
      getSync: (o: SharedQueue, [options]: [Options]) => o.get({ timeout: timeoutOf(options) }),
      tryGet: (o: SharedQueue) => o.tryGet(),
      close: (o: SharedQueue) => o.close(),
      'get:size': (o: SharedQueue) => o.size,
      'get:closed': (o: SharedQueue) => o.closed,
    },
    // A process worker's puts and gets stream (../share/queue-client.ts): it encodes values itself.
    meta: (o: SharedQueue) => ({ byteLength: o.byteLength, maxSize: o.maxSize }),
  },
};
