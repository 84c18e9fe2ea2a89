/**
 * Which threads died, so that a thread waiting for a Lock or RLock can tell
 * that the owner named in the lock's word will never release it (owner-word.ts
 * then takes the lock over).
 *
 *   thread backend: a worker's 'exit'  ──► threadExited(threadId)
 *                                               │ one Atomics.store
 *   deaths (shared by every thread)   [ ... tag ... ]  slot = tag mod 2^16
 *                                               ▲ one Atomics.load
 *   a waiter about to sleep on a lock ──► threadDied(owner tag)
 *
 * Thread ids are never reused in a process, so the tag a lock word holds names
 * one thread for good. Each slot holds the tag of the last thread that died
 * with that id modulo 2^16: a death is remembered until a thread 65,536 ids
 * later dies too. Nothing here takes a mutex: a worker killed at any
 * instruction cannot leave the record locked.
 *
 * A second table names the threads that serve a child process (src/share/):
 * slot = tag mod 2^16 holds [tag, the child's pid], so that deadlock reports
 * and `ownerDied` name the process worker rather than the thread acting for it.
 * A third, smaller one does the same for threads that serve a holder on a
 * `tandem worker` host (src/share/redis/): [tag, length, UTF-8 label] in
 * slot = tag mod 256 (few such threads live at once).
 *
 * Like the wait-for graph, the record is created by the main thread and given
 * to every tandem thread worker before its first task. A thread without it (a
 * worker that tandem did not start) never sees an owner as dead.
 */
import { isMainThread } from 'node:worker_threads';
import { registerThreadGlobal, threadGlobal } from '../shareable.js';

const SLOTS = 1 << 16;
const MASK = SLOTS - 1;
const THREAD_GLOBAL_KEY = 'tandem.sync.deaths';
const MAIN_KEY = Symbol.for('tandem.sync.deaths');

let deaths: Int32Array | null | undefined;
let servedPids: Int32Array | undefined;
let servedLabels: Int32Array | undefined;

const LABEL_SLOTS = 256;
/** Bytes of one label slot: its tag, its length, then the label. */
const LABEL_BYTES = 64;
const LABEL_TEXT = LABEL_BYTES - 8;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The record; on the main thread `create` makes it if no thread worker was started yet (until then, nobody died). */
function openDeaths(create: boolean): Int32Array | null {
  if (deaths) return deaths;
  let buffer: SharedArrayBuffer | undefined;
  if (isMainThread) {
    const globals = globalThis as unknown as Record<symbol, SharedArrayBuffer | undefined>;
    buffer = globals[MAIN_KEY];
    if (!buffer && !create) return null;
    buffer ??= globals[MAIN_KEY] = new SharedArrayBuffer(SLOTS * 4 * 3 + LABEL_SLOTS * LABEL_BYTES);
  } else {
    // Installed from the worker's hello; before that (or in a worker tandem did not start), look again next time.
    buffer = threadGlobal<SharedArrayBuffer>(THREAD_GLOBAL_KEY);
    if (!buffer) return null;
  }
  deaths = new Int32Array(buffer, 0, SLOTS);
  servedPids = new Int32Array(buffer, SLOTS * 4, SLOTS * 2);
  servedLabels = new Int32Array(buffer, SLOTS * 4 * 3, (LABEL_SLOTS * LABEL_BYTES) / 4);
  return deaths;
}

registerThreadGlobal(THREAD_GLOBAL_KEY, () => openDeaths(true)?.buffer);

/** Records that thread `threadId` (from node:worker_threads) has exited: locks it still holds are free to take over. */
export function threadExited(threadId: number): void {
  const tag = threadId + 1;
  const words = openDeaths(true);
  // The main thread (tag 1) never "dies" while the process runs; -1 (an id asked for too late) is no thread.
  if (words && tag > 1) Atomics.store(words, tag & MASK, tag);
}

/** Whether the thread of owner tag `tag` (threadId + 1) is known to have exited. */
export function threadDied(tag: number): boolean {
  const words = deaths ?? openDeaths(false);
  return words !== null && Atomics.load(words, tag & MASK) === tag;
}

/** Records that thread `threadId` acts for child process `pid` (see src/share/host.ts). */
export function threadServes(threadId: number, pid: number): void {
  openDeaths(true);
  const tag = threadId + 1;
  const slot = (tag & MASK) * 2;
  Atomics.store(servedPids!, slot + 1, pid);
  Atomics.store(servedPids!, slot, tag);
}

/** The pid of the child process the thread of tag `tag` serves, or 0 when it serves none. */
export function servedPid(tag: number): number {
  if ((deaths ?? openDeaths(false)) === null || !servedPids) return 0;
  const slot = (tag & MASK) * 2;
  return Atomics.load(servedPids, slot) === tag ? Atomics.load(servedPids, slot + 1) : 0;
}

/** Records that thread `threadId` acts for a holder on another host, named `label` in reports (see src/share/redis/). */
export function threadServesHolder(threadId: number, label: string): void {
  openDeaths(true);
  const tag = threadId + 1;
  const at = (tag % LABEL_SLOTS) * (LABEL_BYTES / 4);
  const bytes = encoder.encode(label).subarray(0, LABEL_TEXT);
  Atomics.store(servedLabels!, at, 0);
  new Uint8Array(servedLabels!.buffer, servedLabels!.byteOffset + (at + 2) * 4, LABEL_TEXT).set(bytes);
  Atomics.store(servedLabels!, at + 1, bytes.length);
  Atomics.store(servedLabels!, at, tag);
}

/** The label of the holder the thread of tag `tag` serves, or null when it serves none. */
export function servedLabel(tag: number): string | null {
  if ((deaths ?? openDeaths(false)) === null || !servedLabels) return null;
  const at = (tag % LABEL_SLOTS) * (LABEL_BYTES / 4);
  if (Atomics.load(servedLabels, at) !== tag) return null;
  const length = Atomics.load(servedLabels, at + 1);
  return decoder.decode(new Uint8Array(servedLabels.buffer, servedLabels.byteOffset + (at + 2) * 4, length).slice());
}
