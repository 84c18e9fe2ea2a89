/**
 * The server's side: runs in the caller's server thread for one child
 * process (see ./host.ts), acting on the caller's shared memory for it.
 *
 * Being a thread of the caller is the point: everything built for threads
 * holds for the child without a line of its own. The thread's tag owns the
 * locks the child takes (so RLock depth and Condition ownership follow it),
 * its waits join the deadlock detector's wait-for graph, and when the child
 * is gone the thread ends, and its exit frees what the child held, as a
 * thread worker's death does (src/sync/liveness.ts). Several tasks of one
 * child share the thread, as several async tasks of one thread worker share
 * that thread.
 *
 * Waits run as async waits (Atomics.waitAsync), so one wait does not hold up
 * the others; each request is answered when its op ends.
 */
import { SharedObjectUnavailableError } from '../errors.js';
import { fromMarker, SHARED_MARKER, type SharedState } from '../shareable.js';
import { Leases } from './lease.js';
import { KINDS, type KindTable } from './ops.js';
import { ONE_WAY, SETTLE_OBJECT, toWire, type Cancel, type Request, type ShareTransport } from './wire.js';

/** The ops after which a Lock may be leased to the child (./lease.ts). */
const LEASING_OPS = new Set(['acquire', 'acquireSync', 'tryAcquire']);

/** A shared object the caller made known to the server: its id and its thread-crossing state. */
export type Registration = [id: number, shared: SharedState];

interface Live {
  object: unknown;
  table: KindTable;
}

export class ShareServer {
  readonly #objects = new Map<number, Live>();
  /** Requests that came before the caller's registration of their object (the two travel apart). */
  readonly #early = new Map<number, { request: Request; transport: ShareTransport }[]>();
  readonly #waiting = new Map<number, AbortController>();
  /** The error of a one-way request (id 0) that failed, by object: the child's next request on that object gets it. */
  readonly #deferred = new Map<number, unknown>();
  /** The Lock leases of each client (./lease.ts). */
  readonly #leases = new WeakMap<ShareTransport, Leases>();

  register([id, shared]: Registration): void {
    if (this.#objects.has(id)) return;
    const table = KINDS[shared.kind];
    if (!table) return;
    this.#objects.set(id, { object: fromMarker({ [SHARED_MARKER]: shared.kind, state: shared.state }), table });
    const early = this.#early.get(id);
    this.#early.delete(id);
    for (const { request, transport } of early ?? []) this.#run(request, transport);
  }

  serve(transport: ShareTransport): void {
    if (transport.leases) {
      const leases = new Leases((message) => transport.send(message));
      this.#leases.set(transport, leases);
      // Registered before whoever ends the thread when the client is gone: leases no task held are freed first.
      transport.onGone(() => leases.end());
    }
    transport.onMessage((message) => {
      if (message.length === 1) this.#cancel(message as Cancel);
      else this.#run(message as Request, transport);
    });
  }

  /**
   * A request the child does not wait for (client.ts sends release() of a
   * lock its process holds this way): no reply; should it fail, the child's
   * next request on the object fails with its error instead of running.
   */
  #runOneWay(live: Live, [, objectId, op, args, task]: Request): void {
    const defer = (error: unknown): void => {
      if (!this.#deferred.has(objectId)) this.#deferred.set(objectId, error);
    };
    try {
      const run = live.table.ops[op];
      if (!run)
        throw new SharedObjectUnavailableError(
          `'${op}' is not an operation of a shared ${live.table.cls.name}`,
          'use the methods the class documents',
        );
      const result = run(live.object, args, undefined, task);
      if (result instanceof Promise) result.catch(defer);
    } catch (error) {
      defer(error);
    }
  }

  #cancel([id]: Cancel): void {
    this.#waiting.get(id)?.abort();
  }

  #run(request: Request, transport: ShareTransport): void {
    const [id, objectId, op, args, task] = request;
    if (objectId === SETTLE_OBJECT) return transport.send([id, true, undefined]);
    const live = this.#objects.get(objectId);
    if (!live) {
      const early = this.#early.get(objectId) ?? [];
      early.push({ request, transport });
      this.#early.set(objectId, early);
      return;
    }
    const leases = this.#leases.get(transport);
    if (op.startsWith('lease:')) return leases?.note(objectId, op);
    if (op === 'release') leases?.releasing(objectId);
    if (id === ONE_WAY) return this.#runOneWay(live, request);
    if (this.#deferred.has(objectId)) {
      const error = this.#deferred.get(objectId);
      this.#deferred.delete(objectId);
      transport.send([id, false, toWire(error)]);
      return;
    }
    const run = live.table.ops[op];
    let result: unknown;
    let controller: AbortController | undefined;
    try {
      if (!run)
        throw new SharedObjectUnavailableError(
          `'${op}' is not an operation of a shared ${live.table.cls.name}`,
          'use the methods the class documents',
        );
      // Only waits (async forms) can be withdrawn; others end before a cancel could arrive.
      if (live.table.members[op] === 'async') {
        controller = new AbortController();
        this.#waiting.set(id, controller);
      }
      result = run(live.object, args, controller?.signal, task);
    } catch (error) {
      if (controller) this.#waiting.delete(id);
      transport.send([id, false, toWire(error)]);
      return;
    }
    // An uncontended acquire of a Lock: the reply says it is leased to the child (its 4th element).
    const done = (value: unknown): void => {
      if (value === true && LEASING_OPS.has(op) && leases?.grant(objectId, live.object)) {
        transport.send([id, true, true, objectId]);
        leases.granted(objectId);
      } else {
        transport.send([id, true, value]);
      }
    };
    if (!(result instanceof Promise)) {
      if (controller) this.#waiting.delete(id);
      done(result);
      return;
    }
    result.then(
      (value) => {
        this.#waiting.delete(id);
        done(value);
      },
      (error) => {
        this.#waiting.delete(id);
        transport.send([id, false, toWire(error)]);
      },
    );
  }
}
