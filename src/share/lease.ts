/**
 * Lock leases, the server's side: a Lock a process worker took without
 * contention stays with that process after its task releases it, so that the
 * next acquire + release in the child costs no round trip (two writes the
 * child does not wait for, see client.ts), until someone else asks for it.
 *
 *   child's task                 link thread (child)            server thread (caller)
 *   acquire → request ───────────────────────────────────────►  CAS 0 → S, nobody waits: lease it
 *                       ◄──── reply [id, true, true, lockId] ── (the link takes a slot: HELD)
 *   release: slot HELD → FREE, note 'lease:free' ────────────►  word S → S|LEASED (free to the detector)
 *   acquire: slot FREE → HELD, note 'lease:take' ────────────►  word S|LEASED → S
 *
 *   someone else waits: sets WAITERS, notifies the word ─────►  watcher wakes: recall ──► link thread:
 *     slot FREE → gone, 'lease:return'  ─────────────────────►  release the word (the waiter gets it)
 *     slot HELD → RECALLED, 'lease:held' ────────────────────►  word → S: a held lock, waits join the graph;
 *     the task's release then goes to the server as a plain release
 *
 * The link thread answers a recall on its own, so a lessee whose task is
 * blocked in a Sync call or busy computing gives a free lease back at once.
 * The word says S (the server thread, the process's owner) throughout, so a
 * lease never lets two holders in. While the server knows the lease free,
 * the LEASED bit is set: the lock counts as unlocked (locked() is false) and
 * a waiter does not record a wait in the deadlock graph (owner-word.ts), so
 * a lease nobody holds is never part of a reported cycle. The child's notes
 * leave from its task's thread and are in the socket before acquire() or
 * release() returns: when the child dies the server has read them all, and
 * frees a lease no task held without reporting ownerDied; one a task held
 * stays with the server thread until it ends, as any lock the child held.
 */
import { Lock } from '../sync/lock.js';
import { LEASED, OWNER, OWNER_DIED, STATE, WAITERS, releaseWord } from '../sync/owner-word.js';
import { THREAD_TAG } from '../sync/wait.js';
import type { Reply } from './wire.js';

/** Server → child: give lease `lockId` back (reply id). */
export const RECALL = -1;
/** Server → child: lease `lockId` is void (the lock was released by someone else): forget it. */
export const REVOKE = -2;

interface Lease {
  readonly lock: Lock;
  /** Whether a task of the child holds it, as far as the server has read the child's notes. */
  held: boolean;
  recalled: boolean;
  watching: boolean;
}

type WaitAsync = (i32: Int32Array, index: number, expected: number) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class Leases {
  readonly #leases = new Map<number, Lease>();
  readonly #send: (message: Reply) => void;

  constructor(send: (message: Reply) => void) {
    this.#send = send;
  }

  /** After an acquire the child asked for succeeded: leases `lock` to it unless someone else already waits. */
  grant(lockId: number, object: unknown): boolean {
    if (!(object instanceof Lock) || this.#leases.has(lockId)) return false;
    // Exactly ours: no waiter, and not taken over from a dead owner (its release must clear that).
    if (Atomics.load(object.words, STATE) !== THREAD_TAG) return false;
    this.#leases.set(lockId, { lock: object, held: true, recalled: false, watching: false });
    return true;
  }

  /** Starts watching a lease granted, once the reply that grants it is sent (a recall must not overtake it). */
  granted(lockId: number): void {
    this.#watch(lockId);
  }

  /** A note of the child about lease `lockId` ('lease:take', 'lease:free', 'lease:held', 'lease:return', 'lease:end'). */
  note(lockId: number, op: string): void {
    const lease = this.#leases.get(lockId);
    if (!lease) return;
    switch (op) {
      case 'lease:take':
      case 'lease:held':
        lease.held = true;
        this.#mark(lease, false);
        break;
      case 'lease:free':
        lease.held = false;
        this.#mark(lease, true);
        break;
      case 'lease:end':
        // A held lock from now on, released by a plain release (the child counts it).
        this.#leases.delete(lockId);
        this.#mark(lease, false);
        break;
      case 'lease:return':
        this.#leases.delete(lockId);
        this.#release(lease);
        break;
    }
    this.#watch(lockId);
  }

  /** The child releases `lockId` with a plain release: a lease it had ends with it. */
  releasing(lockId: number): void {
    const lease = this.#leases.get(lockId);
    if (!lease) return;
    this.#leases.delete(lockId);
    this.#mark(lease, false);
  }

  /** The child is gone: leases no task held are free again, as plain unlocked locks (no ownerDied). */
  end(): void {
    for (const lease of this.#leases.values()) if (!lease.held) this.#release(lease);
    this.#leases.clear();
  }

  /** Sets or clears LEASED on a word this thread owns, and wakes whoever sleeps on it (waiters look again, the watcher re-arms). */
  #mark(lease: Lease, free: boolean): void {
    const words = lease.lock.words;
    for (;;) {
      const c = Atomics.load(words, STATE);
      if ((c & OWNER) !== THREAD_TAG) return;
      const next = free ? c | LEASED : c & ~LEASED;
      if (next === c || Atomics.compareExchange(words, STATE, c, next) === c) break;
    }
    Atomics.notify(words, STATE);
  }

  #release(lease: Lease): void {
    const c = Atomics.load(lease.lock.words, STATE);
    if ((c & OWNER) === THREAD_TAG && (c & OWNER_DIED) === 0) releaseWord(lease.lock);
  }

  /**
   * Waits (async) for the first waiter on a leased lock: a waiter sets
   * WAITERS and notifies the word. Then asks the lease back. A word no longer
   * ours (someone released the lock from outside: Python lets any thread
   * release a Lock) voids the lease.
   */
  #watch(lockId: number): void {
    const lease = this.#leases.get(lockId);
    if (!lease || lease.watching || lease.recalled) return;
    const words = lease.lock.words;
    const c = Atomics.load(words, STATE);
    if ((c & OWNER) !== THREAD_TAG) {
      this.#leases.delete(lockId);
      this.#send([REVOKE, true, lockId]);
      return;
    }
    if ((c & WAITERS) !== 0) {
      lease.recalled = true;
      this.#send([RECALL, true, lockId]);
      return;
    }
    const result = waitAsync(words, STATE, c);
    if (!result.async) {
      queueMicrotask(() => this.#watch(lockId));
      return;
    }
    lease.watching = true;
    void (result.value as Promise<string>).then(() => {
      lease.watching = false;
      this.#watch(lockId);
    });
  }
}
