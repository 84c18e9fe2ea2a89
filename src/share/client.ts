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
import { writeSync } from 'node:fs';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { CancelledError, QueueClosedError, SharedObjectUnavailableError } from '../errors.js';
import { encodeShared, REMOTE_OBJECT, registerShareable, type SharedState } from '../shareable.js';
import { REMOTE_KIND, type RemoteState } from './host.js';
import { KINDS } from './ops.js';
import { runningTask } from '../worker/current.js';
import type { WaitingTask } from '../sync/deadlock.js';
import { validTimeout } from '../sync/wait.js';
import { dropTakenAhead, holdsTakenAhead, pipelineQueue } from './queue-client.js';
import { frame, fromWire, ONE_WAY, SETTLE_OBJECT, STREAM_PUT, streamFrame, type Reply, type WireError } from './wire.js';

/** The environment variable that gives a process worker the path of its server thread's socket. */
export const SHARE_SOCKET_ENV = 'TANDEM_SHARE_SOCKET';

/** Bytes of a remote object's unused memory: enough for the largest header a class reads at construction (SharedQueue's). */
const SHELL_BYTES = 256;
/** Classes whose state is the buffer itself. */
const BARE_BUFFER = new Set(['tandem.Event', 'tandem.Barrier', 'tandem.SharedQueue']);

/** How often a Sync request looks whether the link thread still runs (ms). */
const LINK_CHECK_MS = 1_000;

// Words the task's thread and the link thread share.
/** Bumped by the link thread for each reply to a Sync request, and when the connection is lost. */
const BELL = 0;
/** The socket's file descriptor while the link is connected (Unix); -1 otherwise. */
const FD = 1;
/** How many frames the task's thread handed to the link thread have been written (their write completed). */
const WRITTEN = 2;
/** 1 once the connection is lost. */
const LOST = 3;
// Word 4 is 1 while a thread writes to the socket's descriptor (the task's thread and the link
// thread both do, a whole frame at a time): see writeFrame.
/**
 * Frames the task's thread posted to the link thread (counted modulo 2^31), or -1 once a link
 * thread that may end by itself (a host's: ./redis/link.ts) did: see {@link linkThreadMayEnd}.
 */
const POSTED = 5;
/**
 * The lease slots (./lease.ts), one word each: lockId << 2 | state, 0 when
 * unused. The link thread takes a slot when a reply grants a lease and
 * answers recalls; the task's thread takes and releases the leased lock.
 */
const LEASES = 8;
const LEASE_SLOTS = 64;
const LINK_WORDS = LEASES + LEASE_SLOTS;
/** Leased, no task holds it. */
const FREE = 1;
/** Leased, a task holds it. */
const HELD = 2;
/** Held, and the server asked for it back: the task's release goes to the server. */
const RECALLED = 3;

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
    ({ port, words }) =>
      new Worker(`(${linkThread.toString()})(require, ${writeFrame.toString()})`, {
        eval: true,
        workerData: { path, port, words },
        transferList: [port],
        env: {},
        execArgv: [],
        stdout: false,
        stderr: false,
      }),
  );
  return link;
}

/**
 * Called by a link thread that wants to end by itself, with how many frames it has received: true
 * (and the task's thread posts no more, it starts a new link instead) unless a frame is on its
 * way. Without this handshake a frame posted as the thread ends is lost, and a Sync request
 * waits for its reply forever (the thread's 'exit' event needs the blocked thread's event loop).
 */
export function linkThreadMayEnd(words: Int32Array, received: number): boolean {
  return Atomics.compareExchange(words, POSTED, received, -1) === received;
}

/**
 * Called by a link thread as it exits, however it ends (even by an error): the task's thread posts
 * no more and starts a new link, and a Sync request still waiting gives up. Its own 'exit' event
 * would not tell it: that needs the event loop of a thread that is blocked.
 */
export function linkThreadEnded(words: Int32Array): void {
  Atomics.store(words, POSTED, -1);
  Atomics.store(words, LOST, 1);
  Atomics.add(words, BELL, 1);
  Atomics.notify(words, BELL);
}

/** The next count of frames posted or received (see {@link linkThreadMayEnd}). */
export function nextPosted(count: number): number {
  return (count + 1) & 0x7fffffff;
}

/** Set on the error of a request that was refused because its link thread had ended: it was not sent, and may go by a new link. */
export const NOT_SENT = Symbol('tandem.share.notSent');

/** A task's side of one request: settles its promise. */
interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The words a link's two threads share (see the constants above), and the port for Sync replies. */
export interface LinkWiring {
  port: MessagePort;
  words: SharedArrayBuffer;
}

/**
 * Starts a link's thread. It takes frames (./wire.ts) of requests and
 * cancels on its parentPort, and posts replies there, except replies to
 * Sync requests (odd ids), which it posts on `port` and then rings the BELL
 * word. The thread is the transport: a socket here, Redis on a `tandem
 * worker` host (./redis/link.ts). Only the socket's thread sets FD (direct
 * writes) and fills lease slots.
 */
export type StartLinkThread = (wiring: LinkWiring) => Worker;

/** What a remote object's methods ask through: a {@link Link}, or something that delegates to one. */
export type ShareLink = Pick<Link, 'ask' | 'askSync'>;

type TaskRef = WaitingTask | undefined;

/**
 * The child's end of the link. Requests leave from the task's own thread:
 * once the link thread is connected, the task's thread writes each frame to
 * the socket itself (fs.writeSync on its descriptor), which saves a thread
 * wake-up per request and puts the frame in the kernel before the call
 * returns, so a one-way request (see `tell`) reaches the server even when
 * this process exits or is killed right after. Before that (and on Windows,
 * where a named pipe has no descriptor to share) the link thread writes
 * them, and the task's thread keeps writing through it until all it handed
 * over is written, so frames never overtake each other. Replies always come
 * through the link thread, which reads while the task's thread blocks.
 *
 * Request ids say where the reply goes: odd for a Sync request (the
 * MessagePort, read blocking), even for an async one (a 'message' event),
 * ONE_WAY for none.
 */
export class Link {
  readonly #worker: Worker;
  readonly #syncPort: MessagePort;
  readonly #words: Int32Array;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  /** Frames handed to the link thread to write. */
  #handed = 0;
  #ended = false;
  /** Whether a one-way request went out since the last settle(). */
  #told = false;
  /** Sync requests whose reply is still to come, and replies that came while another was awaited. */
  readonly #expected = new Set<number>();
  readonly #stash = new Map<number, Reply>();

  constructor(start: StartLinkThread) {
    const { port1, port2 } = new MessageChannel();
    this.#syncPort = port1;
    this.#words = new Int32Array(new SharedArrayBuffer(LINK_WORDS * 4));
    this.#words[FD] = -1;
    this.#worker = start({ port: port2, words: this.#words.buffer as SharedArrayBuffer });
    // Requests in flight keep the child alive by themselves (its task is running).
    this.#worker.unref();
    this.#worker.on('message', (message: Reply | { lost: string }) => {
      if (Array.isArray(message)) this.#settle(message);
      else this.#failPending(linkLost('the request'));
    });
    this.#worker.on('error', () => {});
    // A link thread that ended (it never should) leaves no async request waiting forever.
    this.#worker.once('exit', () => {
      this.#ended = true;
      this.#failPending(linkLost('the request'));
    });
  }

  /** Whether its thread ended: it answers nothing any more. */
  get ended(): boolean {
    return this.#ended || Atomics.load(this.#words, POSTED) === -1;
  }

  /** One request, answered asynchronously; `signal` withdraws it on the server (the reply then says CancelledError). */
  ask(objectId: number, op: string, args: unknown[], task: TaskRef, signal?: AbortSignal): Promise<unknown> {
    if (this.#lost()) return Promise.reject(notSent(linkLost(`${op}()`)));
    if (signal?.aborted) return Promise.reject(new CancelledError(`${op}() was aborted by its signal`, { cause: signal.reason }));
    const id = ++this.#nextId * 2;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        try {
          this.#write([id]);
        } catch {
          // The link thread ended: its 'exit' event fails the request.
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const pending: Pending = {
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error instanceof CancelledError && signal?.aborted ? new CancelledError(error.message, { cause: signal.reason }) : error);
        },
      };
      this.#pending.set(id, pending);
      try {
        this.#write([id, objectId, op, args, task]);
      } catch (error) {
        this.#pending.delete(id);
        pending.reject(error as Error);
      }
    });
  }

  /** One request, waited for with this thread blocked. */
  askSync(objectId: number, op: string, args: unknown[], task: TaskRef): unknown {
    return outcome(this.receive(this.send(objectId, op, args, task), true, op)!);
  }

  /**
   * Sends a request whose reply {@link receive} takes later, with or without blocking (a SharedQueue
   * taking values ahead while the task uses those it has); returns its id.
   */
  send(objectId: number, op: string, args: unknown[], task: TaskRef): number {
    if (this.#lost()) throw notSent(linkLost(`${op}()`));
    const id = ++this.#nextId * 2 + 1;
    this.#expected.add(id);
    try {
      this.#write([id, objectId, op, args, task]);
    } catch (error) {
      this.#expected.delete(id);
      throw error;
    }
    return id;
  }

  /** The reply to request `id` of {@link send}: waits for it if `block`, else undefined when it has not come yet. */
  receive(id: number, block: boolean, op = 'the request'): Reply | undefined {
    let rung = Atomics.load(this.#words, BELL);
    for (;;) {
      const stashed = this.#stash.get(id);
      if (stashed) {
        this.#stash.delete(id);
        this.#expected.delete(id);
        return stashed;
      }
      const received = receiveMessageOnPort(this.#syncPort);
      if (received) {
        const reply = received.message as Reply;
        // A late reply to a Sync request that gave up (its link was lost) is no answer to any.
        if (reply[0] !== id && this.#expected.has(reply[0])) this.#stash.set(reply[0], reply);
        if (reply[0] === id) {
          this.#expected.delete(id);
          return reply;
        }
        continue;
      }
      if (!block) return undefined;
      if (Atomics.load(this.#words, LOST) === 1) this.#gaveUp(id, op);
      // Looks now and then whether the link thread still runs: its 'exit' event needs this thread's event loop.
      if (Atomics.wait(this.#words, BELL, rung, LINK_CHECK_MS) === 'timed-out' && this.#worker.threadId === -1) this.#gaveUp(id, op);
      rung = Atomics.load(this.#words, BELL);
    }
  }

  #gaveUp(id: number, op: string): never {
    this.#expected.delete(id);
    throw linkLost(op === 'the request' ? op : `${op}()`);
  }

  /** A request the task does not wait for (the server answers none; a failure is the reply to the next request on the object). */
  tell(objectId: number, op: string, args: unknown[], task: TaskRef): void {
    if (this.#lost()) throw linkLost(`${op}()`);
    this.#write([ONE_WAY, objectId, op, args, task]);
  }

  /** A one-way SharedQueue op (a stream frame: no V8 serialization, see wire.ts). */
  tellStream(op: number, queueId: number, bytes?: Uint8Array): void {
    if (this.#lost()) throw linkLost(op === STREAM_PUT ? 'put()' : 'get()');
    this.#told = true;
    this.#writeBuffer(streamFrame(op, queueId, bytes), true);
  }

  /**
   * Waits until the server has done every one-way request sent so far (it does requests in order: one
   * more round trip), SharedQueue puts included; values taken ahead from queues go back first.
   */
  settle(): void {
    try {
      if (holdsTakenAhead()) dropTakenAhead(this);
    } catch {
      // The link is lost: what was taken ahead goes back when the server sees this process gone.
    }
    if (!this.#told) return;
    this.#told = false;
    try {
      this.askSync(SETTLE_OBJECT, '', [], undefined);
    } catch {
      // The link is lost: nothing sent can be done any more, and the caller learns of it otherwise.
    }
  }

  /** Takes leased lock `lockId` if this process has its lease and no task holds it; says so to the server without waiting. */
  takeLease(lockId: number, task: TaskRef): boolean {
    const slot = this.#leaseSlot(lockId);
    if (slot < 0 || Atomics.compareExchange(this.#words, slot, (lockId << 2) | FREE, (lockId << 2) | HELD) !== ((lockId << 2) | FREE)) {
      return false;
    }
    this.#write([ONE_WAY, lockId, 'lease:take', [], task]);
    return true;
  }

  /** Whether this process holds leased lock `lockId` (a reply to an acquire just granted it). */
  holdsLease(lockId: number): boolean {
    const slot = this.#leaseSlot(lockId);
    return slot >= 0 && (Atomics.load(this.#words, slot) & 3) >= HELD;
  }

  /** Releases leased lock `lockId` held by a task: kept leased, or given back if the server asked. False: not a held lease. */
  releaseLease(lockId: number, task: TaskRef): boolean {
    const slot = this.#leaseSlot(lockId);
    if (slot < 0) return false;
    if (Atomics.compareExchange(this.#words, slot, (lockId << 2) | HELD, (lockId << 2) | FREE) === ((lockId << 2) | HELD)) {
      this.#write([ONE_WAY, lockId, 'lease:free', [], task]);
      return true;
    }
    if (Atomics.compareExchange(this.#words, slot, (lockId << 2) | RECALLED, 0) === ((lockId << 2) | RECALLED)) {
      this.#write([ONE_WAY, lockId, 'release', [], task]);
      return true;
    }
    return false;
  }

  /**
   * Ends the lease of `lockId`, if any, before an op the server must see exactly (a Condition's): a
   * free one goes back; a held one becomes a plain held lock (true: the caller counts it as held).
   */
  endLease(lockId: number): boolean {
    const slot = this.#leaseSlot(lockId);
    if (slot < 0) return false;
    for (;;) {
      const word = Atomics.load(this.#words, slot);
      if (word >>> 2 !== lockId || word === 0) return false;
      if (Atomics.compareExchange(this.#words, slot, word, 0) !== word) continue;
      const held = (word & 3) !== FREE;
      this.#write([ONE_WAY, lockId, held ? 'lease:end' : 'lease:return', [], undefined]);
      return held;
    }
  }

  #leaseSlot(lockId: number): number {
    for (let slot = LEASES; slot < LINK_WORDS; slot++) if (Atomics.load(this.#words, slot) >>> 2 === lockId) return slot;
    return -1;
  }

  #lost(): boolean {
    return this.ended || this.#worker.threadId === -1 || Atomics.load(this.#words, LOST) === 1;
  }

  #write(message: unknown[]): void {
    if (message[0] === ONE_WAY) this.#told = true;
    this.#writeBuffer(frame(message), message[0] === ONE_WAY);
  }

  /**
   * `oneWay`: nothing will answer it, so it must be in the socket before the op returns (a process
   * killed right after must not lose a release or a put that returned): handed to the link thread
   * (Deno, where the task's thread cannot write the socket itself, or before the link connects), it
   * waits until that thread has written it.
   */
  #writeBuffer(buffer: Buffer, oneWay: boolean): void {
    const fd = Atomics.load(this.#words, FD);
    if (fd >= 0 && Atomics.load(this.#words, WRITTEN) === this.#handed && writeFrame(this.#words, fd, buffer) !== 'failed') return;
    for (;;) {
      const posted = Atomics.load(this.#words, POSTED);
      if (posted === -1) throw notSent(linkLost('the request'));
      if (Atomics.compareExchange(this.#words, POSTED, posted, nextPosted(posted)) === posted) break;
    }
    const target = ++this.#handed;
    this.#worker.postMessage(buffer);
    if (oneWay) this.#awaitWritten(target);
  }

  #awaitWritten(target: number): void {
    for (;;) {
      const written = Atomics.load(this.#words, WRITTEN);
      if (written >= target || Atomics.load(this.#words, LOST) === 1) return;
      if (Atomics.wait(this.#words, WRITTEN, written, LINK_CHECK_MS) === 'timed-out' && this.#worker.threadId === -1) return;
    }
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply[0]);
    if (!pending) return;
    this.#pending.delete(reply[0]);
    if (reply[1]) pending.resolve(reply[2]);
    else pending.reject(fromWire(reply[2] as WireError));
  }

  #failPending(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/**
 * Writes all of `buffer` to the link's socket from this thread, the whole
 * frame under the WRITING word (the link thread writes its lease answers the
 * same way). The socket is non-blocking (the link thread's event loop owns
 * it): a full send buffer (the server is behind) makes this wait a
 * millisecond and try again. A socket that fails otherwise is being lost:
 * the link thread reports that. The link thread runs the same function (its
 * source), hence the `load` parameter.
 */
function writeFrame(words: Int32Array, fd: number, buffer: Uint8Array, write: typeof writeSync = writeSync): 'written' | 'failed' | 'lost' {
  while (Atomics.compareExchange(words, 4, 0, 1) !== 0) Atomics.wait(words, 4, 1, 1);
  try {
    let at = 0;
    while (at < buffer.length) {
      try {
        at += write(fd, buffer, at);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(words, 4, 1, 1);
          continue;
        }
        // Nothing written: the frame can still go another way (the link thread's own write); else the stream is cut.
        if (at > 0) return 'lost';
        Atomics.store(words, 1, -1);
        return 'failed';
      }
    }
    return 'written';
  } finally {
    Atomics.store(words, 4, 0);
    Atomics.notify(words, 4, 1);
  }
}

function linkLost(what: string): SharedObjectUnavailableError {
  return new SharedObjectUnavailableError(
    `${what} could not reach the caller: this process's link to it ended`,
    'the caller exited, or this worker is being stopped',
  );
}

function notSent(error: SharedObjectUnavailableError): SharedObjectUnavailableError {
  return Object.assign(error, { [NOT_SENT]: true });
}

function outcome(reply: Reply): unknown {
  if (reply[1]) return reply[2];
  throw fromWire(reply[2] as WireError);
}

/**
 * The link thread's code (it runs from this function's source, so it needs
 * no file of its own): connects to the server thread, writes the frames the
 * task's thread hands it, hands each reply to the task's thread, and once
 * the connection is lost says so (the task's thread then fails what it still
 * waits for).
 */
function linkThread(load: NodeJS.Require, writeFrame: (words: Int32Array, fd: number, buffer: Uint8Array, write: unknown) => string): void {
  // `load` is the thread's own require: a bundler rewrites the name `require` in code it compiles.
  const { workerData, parentPort } = load('node:worker_threads');
  const net = load('node:net');
  const v8 = load('node:v8');
  const { path, port, words: wordsBuffer } = workerData;
  // The same word indexes as above (this code cannot see the module's constants).
  const words = new Int32Array(wordsBuffer);
  const { writeSync } = load('node:fs');
  const [BELL, FD, WRITTEN, LOST, LEASES, LINK_WORDS, FREE, HELD, RECALLED, RECALL, REVOKE] = [0, 1, 2, 3, 8, 72, 1, 2, 3, -1, -2];
  let socket: import('node:net').Socket | null = null;
  let backlog: Uint8Array[] | null = [];
  let lost = false;
  let partial: Buffer = Buffer.alloc(0);

  const ring = (): void => {
    Atomics.add(words, BELL, 1);
    Atomics.notify(words, BELL);
  };
  const slotOf = (lockId: number): number => {
    for (let slot = LEASES; slot < LINK_WORDS; slot++) if (Atomics.load(words, slot) >>> 2 === lockId) return slot;
    return -1;
  };
  /** A note of this thread to the server (a frame of its own, never counted in WRITTEN). */
  const note = (lockId: number, op: string): void => {
    const body = v8.serialize([0, lockId, op, [], undefined]);
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32LE(body.length, 0);
    const buffer = Buffer.concat([head, body]);
    const fd = Atomics.load(words, FD);
    if (fd < 0 || writeFrame(words, fd, buffer, writeSync) === 'failed') socket?.write(buffer);
  };
  /** The server asks lease `lockId` back: a free one goes back at once; a held one is marked, and its release gives it back. */
  const recall = (lockId: number): void => {
    const slot = slotOf(lockId);
    if (slot < 0) return;
    for (;;) {
      const word = Atomics.load(words, slot);
      if (word >>> 2 !== lockId) return;
      const state = word & 3;
      const next = state === FREE ? 0 : state === HELD ? (lockId << 2) | RECALLED : word;
      if (next === word) return;
      if (Atomics.compareExchange(words, slot, word, next) !== word) continue;
      note(lockId, state === FREE ? 'lease:return' : 'lease:held');
      return;
    }
  };
  /** A reply grants a lease: take a slot for it before the task's thread sees the reply, or give the lease up. */
  const granted = (lockId: number): void => {
    for (let slot = LEASES; slot < LINK_WORDS; slot++) {
      if (Atomics.compareExchange(words, slot, 0, (lockId << 2) | HELD) === 0) return;
    }
    note(lockId, 'lease:end');
  };
  const deliver = (reply: unknown[]): void => {
    const id = reply[0] as number;
    if (id === RECALL) return recall(reply[2] as number);
    if (id === REVOKE) {
      const slot = slotOf(reply[2] as number);
      if (slot >= 0) Atomics.store(words, slot, 0);
      return;
    }
    if (reply[3] !== undefined) granted(reply[3] as number);
    if (id % 2 === 1) {
      port.postMessage(reply);
      ring();
    } else {
      parentPort.postMessage(reply);
    }
  };
  /** Writes a frame the task's thread handed over. */
  const write = (buffer: Uint8Array): void => {
    const fd = Atomics.load(words, FD);
    if (fd < 0) {
      socket!.write(buffer, () => {
        Atomics.add(words, WRITTEN, 1);
        Atomics.notify(words, WRITTEN);
      });
      return;
    }
    if (writeFrame(words, fd, buffer, writeSync) === 'failed') socket!.write(buffer);
    Atomics.add(words, WRITTEN, 1);
    Atomics.notify(words, WRITTEN);
  };
  const loseConnection = (why: string): void => {
    // First: the task's thread must stop writing to a descriptor that is about to be closed (or reused).
    Atomics.store(words, FD, -1);
    if (lost) return;
    lost = true;
    Atomics.store(words, LOST, 1);
    ring();
    parentPort.postMessage({ lost: why });
  };
  const connect = (attempt: number): void => {
    const candidate = net.connect(path);
    candidate.once('connect', () => {
      socket = candidate;
      candidate.setNoDelay?.(true);
      // Deno's handles carry a number that is not the descriptor: there the link thread writes everything.
      const fd = process.versions.deno ? undefined : (candidate as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (typeof fd === 'number' && fd >= 0) Atomics.store(words, FD, fd);
      for (const buffer of backlog!) write(buffer);
      backlog = null;
    });
    candidate.on('error', (error: Error) => {
      // The caller started our server thread just before it sent the object: until it listens, try again.
      if (socket === null && attempt < 400) setTimeout(() => connect(attempt + 1), Math.min(50, 1 + attempt * 2));
      else loseConnection(error.message);
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
    candidate.on('end', () => {
      if (socket === candidate) loseConnection('the connection closed');
    });
    candidate.on('close', () => {
      if (socket === candidate) loseConnection('the connection closed');
    });
  };
  parentPort.on('message', (buffer: Uint8Array) => {
    if (lost) return;
    if (socket) write(buffer);
    else backlog!.push(buffer);
  });
  connect(0);
}

/**
 * Called before a process worker sends results to the pool: the one-way
 * requests its tasks made (releases of locks they held) are done by then, so
 * a caller that gets a call's result finds the locks the call released free,
 * as it would had each release waited for its answer.
 */
export function settleRemoteObjects(): void {
  link?.settle();
}

/**
 * The object a task receives for a caller's shared object: its class, its
 * methods, each a request over `link()`. `local`: the link is this process
 * worker's own (leases, one-way releases); a link that does neither asks
 * the server for every acquire and release.
 */
export function remoteObject(state: RemoteState, link: () => ShareLink = theLink, local = true): unknown {
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
  // The call that received the object: its requests name it when made outside the call's synchronous part.
  const received = runningTask();
  const task = (): TaskRef => runningTask() ?? received;
  for (const [name, mode] of Object.entries(table.members)) {
    switch (mode) {
      case 'sync':
        define(object, name, { value: (...args: unknown[]) => link().askSync(id, name, args, task()) });
        break;
      case 'block':
        define(object, name, { value: (...args: unknown[]) => link().askSync(id, name, withoutSignal(name, args), task()) });
        break;
      case 'async':
        define(object, name, {
          value: (...args: unknown[]) => {
            try {
              const options = args[optionsAt(name)] as { signal?: AbortSignal } | undefined;
              return link().ask(id, name, withoutSignal(name, args), task(), options?.signal);
            } catch (error) {
              return Promise.reject(error);
            }
          },
        });
        break;
      case 'get':
        define(object, name, { get: () => link().askSync(id, `get:${name}`, [], task()) });
        break;
      case 'getset':
        define(object, name, {
          get: () => link().askSync(id, `get:${name}`, [], task()),
          set: (value: unknown) => link().askSync(id, `set:${name}`, [value], task()),
        });
        break;
    }
  }
  // Leases and one-way releases are the process worker's link's (only it settles before results leave).
  if (local && (state.kind === 'tandem.Lock' || state.kind === 'tandem.RLock')) countHolds(object, id, task, state.kind === 'tandem.Lock');
  if (local && state.kind === 'tandem.Condition') endLeaseFirst(object);
  // The Condition's lock is already the remote lock, made by its fromShared from the marker.
  for (const [name, value] of Object.entries(meta)) if (name !== 'lock') define(object, name, { value });
  if (local && state.kind === 'tandem.SharedQueue') pipelineQueue(object, id, task, theLink);
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

/** Acquires of each lock (by id) this process made outside a lease and did not release yet: its RLock depth, 0 or 1 for a Lock. */
const holds = new Map<number, number>();

/** A remote lock's way to end its lease before an op of its Condition (see Link.endLease). */
const END_LEASE = Symbol('tandem.remote.endLease');

/**
 * A lock's acquires and releases in this process. A Lock the server leased
 * to this process (./lease.ts) is taken and released here, the server told
 * without waiting. Otherwise acquires are counted, so that release() of a
 * lock this process holds is a one-way request: it cannot fail (the
 * caller's server thread holds the lock for this process), so the task need
 * not wait for the caller. A release that is not known to be ours (Python's
 * Lock may be released by any thread) still waits for its answer, so that
 * releasing a free lock throws LockNotHeldError there.
 */
function countHolds(object: Record<PropertyKey, unknown>, id: number, task: () => TaskRef, leasable: boolean): void {
  const counted = (acquired: unknown): unknown => {
    if (acquired === true && !(leasable && theLink().holdsLease(id))) holds.set(id, (holds.get(id) ?? 0) + 1);
    return acquired;
  };
  // Only a valid timeout goes the local way: a bad one fails on the server as it would anywhere.
  const local = (options: unknown): boolean =>
    leasable && link !== null && validTimeout((options as { timeout?: unknown } | undefined)?.timeout) && link.takeLease(id, task());
  const { acquire, acquireSync, tryAcquire } = object as Record<string, (...args: unknown[]) => unknown>;
  define(object, 'acquire', {
    value: (...args: unknown[]) => (local(args[0]) ? Promise.resolve(true) : (acquire(...args) as Promise<unknown>).then(counted)),
  });
  define(object, 'acquireSync', { value: (...args: unknown[]) => (local(args[0]) ? true : counted(acquireSync(...args))) });
  define(object, 'tryAcquire', { value: () => (local(undefined) ? true : counted(tryAcquire())) });
  define(object, 'release', {
    value: () => {
      if (leasable && link?.releaseLease(id, task())) return;
      const count = holds.get(id) ?? 0;
      if (count === 0) return theLink().askSync(id, 'release', [], task());
      if (count === 1) holds.delete(id);
      else holds.set(id, count - 1);
      theLink().tell(id, 'release', [], task());
    },
  });
  define(object, END_LEASE, {
    value: () => {
      if (leasable && link?.endLease(id)) holds.set(id, (holds.get(id) ?? 0) + 1);
    },
  });
}

/** A Condition's ops see its lock as it is: a lease of the lock ends first (its server-side wait releases and retakes the lock). */
function endLeaseFirst(object: Record<PropertyKey, unknown>): void {
  for (const name of ['wait', 'waitSync', 'notify', 'notifyAll']) {
    const op = object[name] as (...args: unknown[]) => unknown;
    define(object, name, {
      value: (...args: unknown[]) => {
        ((object.lock as Record<PropertyKey, unknown>)[END_LEASE] as (() => void) | undefined)?.();
        return op(...args);
      },
    });
  }
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
