/**
 * Sharing with child processes, the child's side: the objects a task
 * receives, and the link that carries their requests to the caller's server
 * thread for this process (see ./host.ts).
 *
 *   task's thread ──postMessage(request)──► link thread ──socket──► server thread (caller)
 *        ▲   async reply: 'message' event ◄──┤    ◄──────── reply
 *        └── Sync reply: a MessagePort read with receiveMessageOnPort,
 *            after Atomics.wait on a word the link thread bumps
 *
 * The link is a thread so that a Sync form (acquireSync, getSync, ...) and
 * the plain methods (release, value, ...), which must return at once, get
 * their reply while the task's thread blocks: nothing on the way needs the
 * child's event loop. All requests of the child go through the one link, in
 * the order they were made.
 *
 * What a request costs (bench/share.mjs; timestamps on each hop, 2 busy
 * cores): task → link 35 µs, link → server 100 µs, the op 18 µs, server →
 * link 105 µs, link → task 50 µs: four thread wake-ups, where a raw IPC round
 * trip has two, so about 2x one. Going below needs the task's own thread to
 * reach the server (a blocking descriptor it reads itself), or locks that
 * stay with the child while nobody else asks for them.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { CancelledError, QueueClosedError, SharedObjectUnavailableError } from '../errors.js';
import { encodeShared, REMOTE_OBJECT, registerShareable, type SharedState } from '../shareable.js';
import { REMOTE_KIND, type RemoteState } from './host.js';
import { KINDS } from './ops.js';
import { fromWire, type Reply, type WireError } from './wire.js';

/** The environment variable that gives a process worker the path of its server thread's socket. */
export const SHARE_SOCKET_ENV = 'TANDEM_SHARE_SOCKET';

/** Bytes of a remote object's unused memory: enough for the largest header a class reads at construction (SharedQueue's). */
const SHELL_BYTES = 256;
/** Classes whose state is the buffer itself. */
const BARE_BUFFER = new Set(['tandem.Event', 'tandem.Barrier', 'tandem.SharedQueue']);

/** How often a Sync request looks whether the link thread still runs (ms). */
const LINK_CHECK_MS = 1_000;

let socketPath: string | null = null;
let link: Link | null = null;

/** Called by the process worker at start: shared objects it receives become remote objects over `path`. */
export function serveRemoteObjects(path: string): void {
  socketPath = path;
  registerShareable(REMOTE_KIND, (state) => remoteObject(state as RemoteState));
}

function theLink(): Link {
  if (link) return link;
  if (socketPath === null) {
    throw new SharedObjectUnavailableError(
      'a shared object reached a process that no tandem pool started',
      'pass shared objects to tasks of a tandem Pool',
    );
  }
  const path = socketPath;
  link = new Link(
    ({ port, bell }) =>
      new Worker(`(${linkThread.toString()})(require)`, {
        eval: true,
        workerData: { path, port, bell },
        transferList: [port],
        env: {},
        execArgv: [],
        stdout: false,
        stderr: false,
      }),
  );
  return link;
}

/** A task's side of one request: settles its promise. */
interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/**
 * Starts a link's thread: what it receives is the port for the replies to
 * Sync requests, and the bell it rings after posting one there. It takes
 * requests `[id, objectId, op, args, blocking]` and cancels `[id]` on its
 * parentPort, and posts async replies there. The thread is the transport:
 * a socket here, Redis on a `tandem worker` host (./redis/link.ts).
 */
export type StartLinkThread = (wiring: { port: MessagePort; bell: SharedArrayBuffer }) => Worker;

/** What a remote object's methods ask through: a {@link Link}, or something that delegates to one. */
export type ShareLink = Pick<Link, 'ask' | 'askSync'>;

/** The task's side of a link: requests go to the link's thread, replies come back from it. */
export class Link {
  readonly #worker: Worker;
  readonly #syncPort: MessagePort;
  readonly #bell: Int32Array;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #ended = false;

  constructor(start: StartLinkThread) {
    const { port1, port2 } = new MessageChannel();
    this.#syncPort = port1;
    this.#bell = new Int32Array(new SharedArrayBuffer(4));
    this.#worker = start({ port: port2, bell: this.#bell.buffer as SharedArrayBuffer });
    // Requests in flight keep the child alive by themselves (its task is running).
    this.#worker.unref();
    this.#worker.on('message', (reply: Reply) => this.#settle(reply));
    this.#worker.on('error', () => {});
    // A link thread that ended (it never should) leaves no async request waiting forever.
    this.#worker.once('exit', () => {
      this.#ended = true;
      for (const pending of this.#pending.values()) pending.reject(linkLost('the request'));
      this.#pending.clear();
    });
  }

  /** Whether its thread ended: it answers nothing any more. */
  get ended(): boolean {
    return this.#ended;
  }

  /** One request, answered asynchronously; `signal` withdraws it on the server (the reply then says CancelledError). */
  ask(objectId: number, op: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    const id = ++this.#nextId;
    if (this.#ended) return Promise.reject(linkLost(`${op}()`));
    if (signal?.aborted) return Promise.reject(new CancelledError(`${op}() was aborted by its signal`, { cause: signal.reason }));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => this.#worker.postMessage([id]);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error instanceof CancelledError && signal?.aborted ? new CancelledError(error.message, { cause: signal.reason }) : error);
        },
      });
      this.#worker.postMessage([id, objectId, op, args, false]);
    });
  }

  /** One request, waited for with this thread blocked. */
  askSync(objectId: number, op: string, args: unknown[]): unknown {
    if (this.#ended || this.#worker.threadId === -1) throw linkLost(`${op}()`);
    const id = ++this.#nextId;
    let rung = Atomics.load(this.#bell, 0);
    this.#worker.postMessage([id, objectId, op, args, true]);
    for (;;) {
      const received = receiveMessageOnPort(this.#syncPort);
      if (received) return outcome(received.message as Reply);
      // Looks now and then whether the link thread still runs: its 'exit' event needs this thread's event loop.
      if (Atomics.wait(this.#bell, 0, rung, LINK_CHECK_MS) === 'timed-out' && this.#worker.threadId === -1) {
        throw linkLost(`${op}()`);
      }
      rung = Atomics.load(this.#bell, 0);
    }
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply[0]);
    if (!pending) return;
    this.#pending.delete(reply[0]);
    if (reply[1]) pending.resolve(reply[2]);
    else pending.reject(fromWire(reply[2] as WireError));
  }
}

function linkLost(what: string): SharedObjectUnavailableError {
  return new SharedObjectUnavailableError(
    `${what} could not reach the caller: this process's link to it ended`,
    'the caller exited, or this worker is being stopped',
  );
}

function outcome(reply: Reply): unknown {
  if (reply[1]) return reply[2];
  throw fromWire(reply[2] as WireError);
}

/**
 * The link thread's code (it runs from this function's source, so it needs
 * no file of its own): connects to the server thread, forwards requests as
 * frames, hands each reply to the task's thread, and answers every request
 * still open with an error once the connection is lost.
 */
function linkThread(load: NodeJS.Require): void {
  // `load` is the thread's own require: a bundler rewrites the name `require` in code it compiles.
  const { workerData, parentPort } = load('node:worker_threads');
  const net = load('node:net');
  const v8 = load('node:v8');
  const { path, port, bell: bellBuffer } = workerData;
  const bell = new Int32Array(bellBuffer);
  const blocking = new Set<number>();
  const open = new Set<number>();
  let socket: import('node:net').Socket | null = null;
  let backlog: Buffer[] | null = [];
  let lost: string | null = null;
  let partial: Buffer = Buffer.alloc(0);

  const frame = (message: unknown): Buffer => {
    const body = v8.serialize(message);
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32LE(body.length, 0);
    return Buffer.concat([head, body]);
  };
  const deliver = (reply: unknown[]): void => {
    const id = reply[0] as number;
    open.delete(id);
    if (blocking.delete(id)) {
      port.postMessage(reply);
      Atomics.add(bell, 0, 1);
      Atomics.notify(bell, 0);
    } else {
      parentPort.postMessage(reply);
    }
  };
  const failAll = (why: string): void => {
    lost = why;
    const error = {
      code: 'ERR_TANDEM_SHARED_OBJECT_UNAVAILABLE',
      name: 'SharedObjectUnavailableError',
      message: `the link to the caller that owns this shared object is lost (${why}); the caller exited, or this worker is being stopped`,
      stack: undefined,
      fields: {},
    };
    for (const id of [...open]) deliver([id, false, error]);
  };
  const connect = (attempt: number): void => {
    const candidate = net.connect(path);
    candidate.once('connect', () => {
      socket = candidate;
      candidate.setNoDelay?.(true);
      for (const buffer of backlog!) candidate.write(buffer);
      backlog = null;
    });
    candidate.on('error', (error: Error) => {
      // The caller started our server thread just before it sent the object: until it listens, try again.
      if (socket === null && attempt < 400) setTimeout(() => connect(attempt + 1), Math.min(50, 1 + attempt * 2));
      else if (socket === null) failAll(error.message);
    });
    candidate.on('data', (chunk: Buffer) => {
      let data: Buffer = partial.length > 0 ? Buffer.concat([partial, chunk]) : chunk;
      while (data.length >= 4) {
        const length = data.readUInt32LE(0);
        if (data.length < 4 + length) break;
        deliver(v8.deserialize(data.subarray(4, 4 + length)));
        data = data.subarray(4 + length);
      }
      partial = data;
    });
    candidate.on('close', () => {
      if (socket === candidate) failAll('the connection closed');
    });
  };
  parentPort.on('message', (message: unknown[]) => {
    const id = message[0] as number;
    if (message.length > 1) {
      open.add(id);
      if (message[4]) blocking.add(id);
      message.length = 4;
      if (lost !== null) return failAll(lost);
    } else if (!open.has(id)) {
      return;
    }
    const buffer = frame(message);
    if (socket) socket.write(buffer);
    else backlog?.push(buffer);
  });
  connect(0);
}

/** The object a task receives for a caller's shared object: its class, its methods, each a request over `link()`. */
export function remoteObject(state: RemoteState, link: () => ShareLink = theLink): unknown {
  const table = KINDS[state.kind];
  if (!table)
    throw new SharedObjectUnavailableError(
      `a shared object of kind '${state.kind}' reached this process`,
      'update tandem so that the caller and its workers run the same version',
    );
  // A real instance of the class, over memory of its own that nothing uses (so the class's private
  // fields exist for the methods it keeps, guard() say); every member that touches the memory is replaced.
  const shell = new SharedArrayBuffer(SHELL_BYTES);
  const { meta } = state;
  const shellState = BARE_BUFFER.has(state.kind) ? shell : { buffer: shell, name: meta.name, type: meta.type, lock: meta.lock };
  const object = (table.cls as unknown as { fromShared(state: unknown): object }).fromShared(shellState) as Record<PropertyKey, unknown>;
  const id = state.id;
  for (const [name, mode] of Object.entries(table.members)) {
    switch (mode) {
      case 'sync':
        define(object, name, { value: (...args: unknown[]) => link().askSync(id, name, args) });
        break;
      case 'block':
        define(object, name, { value: (...args: unknown[]) => link().askSync(id, name, withoutSignal(name, args)) });
        break;
      case 'async':
        define(object, name, {
          value: (...args: unknown[]) => {
            try {
              const options = args[optionsAt(name)] as { signal?: AbortSignal } | undefined;
              return link().ask(id, name, withoutSignal(name, args), options?.signal);
            } catch (error) {
              return Promise.reject(error);
            }
          },
        });
        break;
      case 'get':
        define(object, name, { get: () => link().askSync(id, `get:${name}`, []) });
        break;
      case 'getset':
        define(object, name, {
          get: () => link().askSync(id, `get:${name}`, []),
          set: (value: unknown) => link().askSync(id, `set:${name}`, [value]),
        });
        break;
    }
  }
  // The Condition's lock is already the remote lock, made by its fromShared from the marker.
  for (const [name, value] of Object.entries(meta)) if (name !== 'lock') define(object, name, { value });
  // The caller's object again when it goes back (a task returning it, say).
  const shared: SharedState = { kind: REMOTE_KIND, state };
  define(object, encodeShared, { value: () => shared });
  define(object, REMOTE_OBJECT, { value: true });
  if (state.kind === 'tandem.SharedArray') {
    define(object, 'view', {
      get: () => {
        throw new SharedObjectUnavailableError(
          "a SharedArray's view cannot be used in a process worker: its memory lives in the caller",
          'use its atomic methods (load, store, add, exchange, compareExchange), or toArray() for a copy',
        );
      },
    });
    define(object, Symbol.iterator, { value: () => (object.toArray as () => unknown[])()[Symbol.iterator]() });
  }
  if (state.kind === 'tandem.SharedQueue') {
    define(object, Symbol.asyncIterator, {
      value: () => ({
        next: () =>
          (object.get as () => Promise<unknown>)().then(
            (value) => ({ value, done: false }),
            (error: unknown) => {
              if (error instanceof QueueClosedError) return { value: undefined, done: true };
              throw error;
            },
          ),
      }),
    });
  }
  return object;
}

function define(object: object, key: PropertyKey, descriptor: PropertyDescriptor): void {
  Object.defineProperty(object, key, { configurable: true, ...descriptor });
}

/** Where a wait's options are among its arguments: after the value for a put, first for the others. */
function optionsAt(op: string): number {
  return op === 'put' || op === 'putSync' ? 1 : 0;
}

/** A wait's arguments with the options' signal left out (the link withdraws the request instead; a signal cannot cross). */
function withoutSignal(op: string, args: unknown[]): unknown[] {
  const at = optionsAt(op);
  const options = args[at];
  if (options === null || typeof options !== 'object' || !('signal' in options)) return args;
  const { signal: _signal, ...rest } = options as { signal?: unknown };
  const out = args.slice();
  out[at] = rest;
  return out;
}
