/**
 * Deadlock detection: a wait-for graph in one SharedArrayBuffer that the main
 * thread creates and every tandem thread worker of the process receives
 * before its first task (registerThreadGlobal).
 *
 *   thread X about to block on lock L (owner O, read from L's word)
 *        │  under the graph mutex:
 *        ├─ L's word changed?  -> don't block, retry the acquire
 *        ├─ record  X waits for L, held by O
 *        └─ follow  O waits for L2 held by P, P waits for ... -> back to X?
 *                   yes: DeadlockError naming every thread and lock
 *
 * A thread that died (liveness.ts) ends every path: the locks it held go to
 * their next waiter, and the record it left if it died waiting is free.
 *
 * Only threads about to block touch the graph; an uncontended acquire or
 * release never does. A release of a lock with waiters clears, under the same
 * mutex, the "held by" of every record waiting for that lock, so a record is
 * never stale: each edge of a reported cycle held at once.
 *
 * Layout (Int32 words): [mutex, enabled, next lock id, high-water slot],
 * then one record per waiting thread (tag, lock id, owner tag, task call id,
 * task name length), then the length of each lock's name; then the names'
 * UTF-8 bytes; then the task name of each record.
 */
import { isMainThread } from 'node:worker_threads';
import { DeadlockError, type DeadlockLink } from '../errors.js';
import { registerThreadGlobal, threadGlobal } from '../shareable.js';
import { servedLabel, servedPid, threadDied } from './liveness.js';
import { lockSpinRobust, unlockSpinRobust } from './spin-mutex.js';
import { THREAD_TAG } from './wait.js';

const MUTEX = 0;
const ENABLED = 1;
const NEXT_LOCK_ID = 2;
const HIGH_WATER = 3;
const RECORDS = 8;
// Waiting thread tag, lock id, owner tag (0: released), and for a wait made for a process worker's
// task (src/share/): its call id + 1 (0: none) and the length of its name (the name's bytes: TASK_NAMES).
const RECORD_FIELDS = 5;
/** The call id word of a record whose task has a name and no call id (a host's task, see WaitingTask). */
const NAME_ONLY = -1;
const MAX_WAITERS = 1024;
const NAME_LENGTHS = RECORDS + MAX_WAITERS * RECORD_FIELDS;
/** Locks that ever had to wait get an id; past this many, new ones are not tracked. */
const MAX_LOCKS = 4096;
const NAME_BYTES = 64;
const WORDS = NAME_LENGTHS + MAX_LOCKS + 1;
/** Byte offset of the task names, one slot of NAME_BYTES per record. */
const TASK_NAMES = WORDS * 4 + (MAX_LOCKS + 1) * NAME_BYTES;
const BYTES = TASK_NAMES + MAX_WAITERS * NAME_BYTES;

/** enter() result: the lock's word changed under us; retry instead of blocking. */
export const RETRY = -2;
/** enter() result: nothing recorded (detection off or not available); block anyway. */
export const UNTRACKED = -1;

const THREAD_GLOBAL_KEY = 'tandem.sync.waitForGraph';
const MAIN_GRAPH_KEY = Symbol.for('tandem.sync.waitForGraph');
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let graph: Int32Array | null | undefined;
let names: Uint8Array;
let taskNames: Uint8Array;
// Where no graph exists (a raw worker_threads Worker that tandem did not start), this flag stands in.
let localEnabled = true;

function openGraph(): Int32Array | null {
  if (graph !== undefined) return graph;
  let buffer: SharedArrayBuffer | undefined;
  if (isMainThread) {
    const globals = globalThis as unknown as Record<symbol, SharedArrayBuffer | undefined>;
    buffer = globals[MAIN_GRAPH_KEY] ??= createGraphBuffer();
  } else {
    buffer = threadGlobal<SharedArrayBuffer>(THREAD_GLOBAL_KEY);
    // Workers get the graph in their hello; before that (or in a worker tandem
    // did not start) there is none yet: look again next time.
    if (!buffer) return null;
  }
  names = new Uint8Array(buffer, WORDS * 4, TASK_NAMES - WORDS * 4);
  taskNames = new Uint8Array(buffer, TASK_NAMES);
  graph = new Int32Array(buffer, 0, WORDS);
  return graph;
}

function createGraphBuffer(): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(BYTES);
  const words = new Int32Array(buffer, 0, WORDS);
  words[ENABLED] = 1;
  words[NEXT_LOCK_ID] = 1;
  return buffer;
}

// Every new thread worker (of any pool) receives this thread's graph.
registerThreadGlobal(THREAD_GLOBAL_KEY, () => {
  const words = openGraph();
  return words ? words.buffer : undefined;
});

/** Whether waits on locks are checked for deadlocks, in every thread of the process. */
export function deadlockDetectionEnabled(): boolean {
  const words = openGraph();
  return words ? Atomics.load(words, ENABLED) === 1 : localEnabled;
}

/**
 * Turns deadlock detection on or off for every thread of the process (it is on
 * by default). Off, a lock wait that closes a cycle blocks until its timeout,
 * as in Python.
 */
export function setDeadlockDetection(enabled: boolean): void {
  localEnabled = enabled;
  const words = openGraph();
  if (words) Atomics.store(words, ENABLED, enabled ? 1 : 0);
}

// Robust: a worker killed while it records a wait must not leave every later lock wait spinning.
function lockGraph(words: Int32Array): void {
  lockSpinRobust(words, MUTEX);
}

function unlockGraph(words: Int32Array): void {
  unlockSpinRobust(words, MUTEX);
}

/** What the detector needs to know of a lock: its word and where it keeps its graph id. */
export interface TrackedLock {
  readonly words: Int32Array;
  readonly stateIndex: number;
  readonly idIndex: number;
  readonly label: string;
}

/** The lock's id in the graph, given on its first wait; 0 when the graph is full. */
function lockId(words: Int32Array, lock: TrackedLock): number {
  const known = Atomics.load(lock.words, lock.idIndex);
  if (known !== 0) return known;
  // Called under the graph mutex, so ids and names are written by one thread at a time.
  const id = words[NEXT_LOCK_ID];
  if (id > MAX_LOCKS) return 0;
  words[NEXT_LOCK_ID] = id + 1;
  const bytes = encoder.encode(lock.label).subarray(0, NAME_BYTES);
  names.set(bytes, id * NAME_BYTES);
  words[NAME_LENGTHS + id] = bytes.length;
  Atomics.store(lock.words, lock.idIndex, id);
  return id;
}

function lockName(id: number): string {
  return decoder.decode(names.subarray(id * NAME_BYTES, id * NAME_BYTES + graph![NAME_LENGTHS + id]));
}

/**
 * The task a wait is made for: its name and call id, so that a report names
 * tasks where a thread name alone would say only `worker 3` or `process
 * 4242`. A thread worker's wait reads it where it starts (src/worker/
 * current.ts); a process worker's or host's requests carry it
 * (src/share/server.ts). No call id: the wait of a task on a `tandem worker`
 * host, whose calls are numbered by the host's own pool, not the caller's.
 */
export type WaitingTask = [name: string, callId?: number];

/**
 * How reports name the thread of `tag`: `'main'`, `'worker 7'`, `'process 4242'` for the thread acting for a process worker, or
 * `'host NAME:PID worker N'` for one acting for a thread of a `tandem worker` host.
 */
export function threadLabel(tag: number): string {
  if (tag === 1) return 'main';
  const holder = servedLabel(tag);
  if (holder !== null) return holder;
  const pid = servedPid(tag);
  return pid !== 0 ? `process ${pid}` : `worker ${tag - 1}`;
}

/**
 * Records that this thread is about to block on `lock`, whose word holds
 * `expected` (owner tag | waiters bit). Throws DeadlockError if the wait closes
 * a cycle. Returns the record's slot (pass it to leave()), RETRY or UNTRACKED.
 * `sameThreadMayRelease`: an async wait, where another flow of this thread
 * may still release a lock this thread holds, so waiting on ourselves is no deadlock.
 */
export function enter(lock: TrackedLock, expected: number, owner: number, sameThreadMayRelease: boolean, task?: WaitingTask): number {
  const words = openGraph();
  if (!words || Atomics.load(words, ENABLED) !== 1) return UNTRACKED;
  lockGraph(words);
  try {
    if (Atomics.load(lock.words, lock.stateIndex) !== expected) return RETRY;
    const id = lockId(words, lock);
    if (id === 0) return UNTRACKED;
    if (!(sameThreadMayRelease && owner === THREAD_TAG)) {
      const cycle = findCycle(words, id, owner, task);
      if (cycle) throw new DeadlockError(cycle);
    }
    const high = words[HIGH_WATER];
    for (let slot = 0; slot < MAX_WAITERS; slot++) {
      const base = RECORDS + slot * RECORD_FIELDS;
      // A thread that died waiting left its record: the slot is free again.
      if (words[base] !== 0 && !threadDied(words[base])) continue;
      words[base] = THREAD_TAG;
      words[base + 1] = id;
      words[base + 2] = owner;
      writeTask(slot, base, task);
      if (slot >= high) words[HIGH_WATER] = slot + 1;
      return slot;
    }
    return UNTRACKED;
  } finally {
    unlockGraph(words);
  }
}

/** Removes the record enter() returned. */
export function leave(slot: number): void {
  if (slot < 0 || !graph) return;
  lockGraph(graph);
  graph[RECORDS + slot * RECORD_FIELDS] = 0;
  unlockGraph(graph);
}

/**
 * Releases a lock that has waiters: clears its word and, under the graph
 * mutex, the owner of every record waiting for it, so the graph never shows
 * a thread holding a lock it let go.
 */
export function releaseTracked(lock: TrackedLock): void {
  const id = Atomics.load(lock.words, lock.idIndex);
  const words = id > 0 ? openGraph() : null;
  if (!words) {
    Atomics.store(lock.words, lock.stateIndex, 0);
    return;
  }
  lockGraph(words);
  Atomics.store(lock.words, lock.stateIndex, 0);
  const high = words[HIGH_WATER];
  for (let slot = 0; slot < high; slot++) {
    const base = RECORDS + slot * RECORD_FIELDS;
    if (words[base] !== 0 && words[base + 1] === id) words[base + 2] = 0;
  }
  unlockGraph(words);
}

function writeTask(slot: number, base: number, task: WaitingTask | undefined): void {
  if (!task) {
    graph![base + 3] = 0;
    return;
  }
  const bytes = encoder.encode(task[0]).subarray(0, NAME_BYTES);
  taskNames.set(bytes, slot * NAME_BYTES);
  graph![base + 3] = task[1] === undefined ? NAME_ONLY : task[1] + 1;
  graph![base + 4] = bytes.length;
}

function readTask(slot: number): WaitingTask | undefined {
  const base = RECORDS + slot * RECORD_FIELDS;
  const call = graph![base + 3];
  if (call === 0) return undefined;
  const name = decoder.decode(taskNames.subarray(slot * NAME_BYTES, slot * NAME_BYTES + graph![base + 4]));
  return call === NAME_ONLY ? [name] : [name, call - 1];
}

/** Follows "holder waits for lock held by ..." from `owner`; returns the cycle if it comes back to this thread. */
function findCycle(words: Int32Array, id: number, owner: number, task: WaitingTask | undefined): DeadlockLink[] | null {
  const waits: { tag: number; lock: number; task: WaitingTask | undefined }[] = [{ tag: THREAD_TAG, lock: id, task }];
  const high = words[HIGH_WATER];
  let current = owner;
  for (let hops = 0; hops <= high; hops++) {
    if (current === THREAD_TAG) {
      return waits.map((wait, i) => {
        const link: DeadlockLink = {
          thread: threadLabel(wait.tag),
          holds: lockName(waits[(i + waits.length - 1) % waits.length].lock),
          waitsFor: lockName(wait.lock),
        };
        if (wait.task) link.task = wait.task[1] === undefined ? { name: wait.task[0] } : { name: wait.task[0], callId: wait.task[1] };
        return link;
      });
    }
    // A dead holder's lock goes to whoever waits for it next (owner-word.ts): no cycle goes through it.
    if (threadDied(current)) return null;
    let next = 0;
    for (let slot = 0; slot < high; slot++) {
      const base = RECORDS + slot * RECORD_FIELDS;
      if (words[base] === current && words[base + 2] !== 0 && words[base + 2] !== current) {
        waits.push({ tag: current, lock: words[base + 1], task: readTask(slot) });
        next = words[base + 2];
        break;
      }
    }
    if (next === 0) return null; // `current` is not blocked: it will release in time
    current = next;
  }
  return null;
}
