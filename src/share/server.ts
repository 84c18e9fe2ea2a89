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
import { QueueSide } from './queue-side.js';
import { SharedQueue } from '../shared/queue.js';
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
  /** The SharedQueue streams of each client (./queue-side.ts). */
  readonly #streams = new WeakMap<ShareTransport, QueueSide>();

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
    this.#streams.set(transport, new QueueSide());
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
   * The client is gone: what it took ahead from SharedQueues goes back, and the puts it sent that
   * wait for room are returned (the caller's main thread puts them: host.ts), by queue id.
   */
  gone(transport: ShareTransport): Promise<[queueId: number, values: Uint8Array[]][]> {
    return this.#streams.get(transport)?.end() ?? Promise.resolve([]);
  }

  /**
   * A SharedQueue stream op (./queue-side.ts): 'stream:put' [bytes, options] (one-way, or a round trip
   * answered once it is in the queue), 'stream:take' [max, options, ahead], 'stream:took', 'stream:giveBack'
   * [count], and 'close', which waits for the client's puts before it closes the queue.
   */
  #runStream(request: Request, queue: SharedQueue, transport: ShareTransport): void {
    const [id, queueId, op, args] = request;
    const side = this.#streams.get(transport)!;
    // 'stream:put' [bytes, options], 'stream:take' [max, options, ahead]: the options are second.
    const options = args[1] as { timeout?: number } | undefined;
    const timeout = options?.timeout;
    if (id === ONE_WAY) {
      if (op === 'stream:put') side.putOneWay(queueId, queue, args[0] as Uint8Array);
      else if (op === 'stream:took') side.took(queueId);
      else if (op === 'stream:giveBack') side.giveBack(queueId, args[0] as number);
      return;
    }
    const failure = op === 'stream:put' ? side.takeFailure(queueId) : undefined;
    if (failure) return transport.send([id, false, toWire(failure.error)]);
    const controller = new AbortController();
    this.#waiting.set(id, controller);
    let result: unknown;
    try {
      if (op === 'stream:put') result = side.put(queueId, queue, args[0] as Uint8Array, timeout, controller.signal);
      else if (op === 'stream:take') result = side.take(queueId, queue, args[0] as number, timeout, controller.signal, args[2] === true);
      else result = side.drained(queueId)?.then(() => queue.close()) ?? queue.close();
    } catch (error) {
      this.#waiting.delete(id);
      return transport.send([id, false, toWire(error)]);
    }
    this.#answer(transport, id, result);
  }

  /**
   * Answers request `id` with `result`, at once or when its promise settles; a wait the child could
   * withdraw stops being one then.
   */
  #answer(
    transport: ShareTransport,
    id: number,
    result: unknown,
    done = (value: unknown): void => transport.send([id, true, value]),
  ): void {
    if (!(result instanceof Promise)) {
      this.#waiting.delete(id);
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
    if (objectId === SETTLE_OBJECT) {
      // Done once the client's SharedQueue puts are in their queues too.
      const drained = this.#streams.get(transport)?.drained();
      if (drained) void drained.then(() => transport.send([id, true, undefined]));
      else transport.send([id, true, undefined]);
      return;
    }
    const live = this.#objects.get(objectId);
    if (!live) {
      const early = this.#early.get(objectId) ?? [];
      early.push({ request, transport });
      this.#early.set(objectId, early);
      return;
    }
    if (live.object instanceof SharedQueue && (op.startsWith('stream:') || op === 'close')) {
      return this.#runStream(request, live.object, transport);
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
    this.#answer(transport, id, result, done);
  }
}
