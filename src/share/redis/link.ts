/**
 * Sharing with `tandem worker` hosts, the host's side (the picture is in
 * ./keys.ts). A job's shared objects arrive in the host's main thread as
 * tickets, which cross to the local worker thread that runs the task; there
 * each becomes an object of the same class with the same methods (the remote
 * objects of ../client.ts), whose operations go through a link thread to the
 * caller that owns the object.
 *
 * One link per local worker thread and caller: the link is the holder the
 * caller's server thread owns locks for, so two tasks on two threads of one
 * host are two owners, as two thread workers are. The link thread owns two
 * Redis connections (one blocks reading replies), pushes requests with a
 * script that writes only while the caller serves, and keeps the holder's
 * heartbeat key (see runLink for what happens when the caller goes).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { type MessagePort, parentPort, threadId, Worker } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import { SharedObjectUnavailableError } from '../../errors.js';
import { codeFile, entryExtension } from '../../location.js';
import { connectRedis } from '../../redis/connect.js';
import { encodeShared, registerThreadGlobal, threadGlobal, type Shareable, type SharedState } from '../../shareable.js';
import type { WaitingTask } from '../../sync/deadlock.js';
import { Link, linkThreadEnded, linkThreadMayEnd, nextPosted, NOT_SENT, remoteObject, type ShareLink } from '../client.js';
import { toWire, type Reply } from '../wire.js';
import {
  BATCH,
  BEAT_SCRIPT,
  CLOSED,
  HEARTBEAT_EVERY_MS,
  HEARTBEAT_TTL_MS,
  HOST_KIND,
  type HostState,
  KEPT,
  LIST_TTL_MS,
  PUSH_SCRIPT,
  RESTARTED,
  shareKeys,
} from './keys.js';

/** What a host's threads need to reach the callers: its Redis and queue, and its local backend. */
export interface HostConfig {
  url: string;
  queue: string;
  backend: 'thread' | 'process';
}

const HOST_GLOBAL = 'tandem.share.redisHost';
let hostMain: HostConfig | null = null;
/** In a child process of a host's local pool: how to reach the callers (its main thread runs tasks). */
let hostChild: HostConfig | null = null;

/** The environment variable that gives a host's process worker the host's {@link HostConfig}. */
export const HOST_CHILD_ENV = 'TANDEM_SHARE_HOST';

/**
 * Called by `tandem worker` before it starts its local pool: shared objects
 * in its jobs become tickets here, and objects reaching the caller in the
 * tasks of its local worker threads.
 */
export function serveSharedObjectsFromRedis(config: HostConfig): void {
  hostMain = config;
  registerThreadGlobal(HOST_GLOBAL, () => config);
}

/**
 * What a host's process worker gets in its environment (src/backends/process.ts): the host's config, so
 * that its tasks reach the callers' objects themselves, each process a holder of its own.
 */
export function hostChildEnv(): Record<string, string> {
  return hostMain ? { [HOST_CHILD_ENV]: JSON.stringify(hostMain) } : {};
}

/** Called by a process worker started with {@link HOST_CHILD_ENV}: shared objects in its calls reach the callers over Redis. */
export function serveHostObjectsInChild(config: HostConfig): void {
  hostChild = config;
}

/** On a host, what a shared object's marker becomes in this thread; undefined anywhere else. */
export function hostObject(state: HostState): unknown {
  const config = threadGlobal<HostConfig>(HOST_GLOBAL) ?? hostChild;
  if (config) return taskObject(state, config);
  if (!hostMain) return undefined;
  // The host's main thread runs no task: the object crosses on to the worker (thread or process) that does.
  return new Ticket(state);
}

/** A shared object in a host's main thread: it only crosses on to the local worker thread that runs the task. */
class Ticket implements Shareable {
  readonly #state: HostState;

  constructor(state: HostState) {
    this.#state = state;
  }

  [encodeShared](): SharedState {
    return { kind: HOST_KIND, state: this.#state };
  }
}

const links = new Map<string, Link>();

function taskObject(state: HostState, config: HostConfig): unknown {
  // Errors that say the caller cannot be reached name the object they were about.
  const name = typeof state.meta.name === 'string' && state.meta.name !== '' ? ` '${state.meta.name}'` : '';
  const what = `a shared ${state.kind.replace('tandem.', '')}${name}`;
  // Requests carry the task's name without its call id: the id a host's thread knows is its local pool's,
  // not the caller's, so a report would name a call the caller never made.
  const nameOnly = (task: WaitingTask | undefined): WaitingTask | undefined => (task ? [task[0]] : undefined);
  // A request refused unsent because the link thread had just ended (idle) goes by a new link.
  const via: ShareLink = {
    ask: (id, op, args, task, signal) => {
      const ask = (): Promise<unknown> => linkTo(state.caller, config).ask(id, op, args, nameOnly(task), signal);
      return ask()
        .catch((error: unknown) => {
          if ((error as { [NOT_SENT]?: boolean })?.[NOT_SENT]) return ask();
          throw error;
        })
        .catch((error: unknown) => {
          throw naming(error, what);
        });
    },
    askSync: (id, op, args, task) => {
      const askSync = (): unknown => linkTo(state.caller, config).askSync(id, op, args, nameOnly(task));
      try {
        try {
          return askSync();
        } catch (error) {
          if ((error as { [NOT_SENT]?: boolean })?.[NOT_SENT]) return askSync();
          throw error;
        }
      } catch (error) {
        throw naming(error, what);
      }
    },
  };
  // Not local: this link takes no leases and sends no one-way releases (nothing settles them before a
  // host's results leave), so a task's release() is done at the caller before its result gets there.
  const object = remoteObject(state, () => via, false) as object;
  // A task that returns it sends it back as what it is: the caller's own object again.
  Object.defineProperty(object, encodeShared, { configurable: true, value: (): SharedState => ({ kind: HOST_KIND, state }) });
  return object;
}

function naming(error: unknown, what: string): unknown {
  if (error instanceof SharedObjectUnavailableError) error.message = `${what}: ${error.message}`;
  return error;
}

/** This thread's link to `caller`; a new one (a new holder) once the last one ended. */
function linkTo(caller: string, config: HostConfig): Link {
  const known = links.get(caller);
  if (known && !known.ended) return known;
  // Each holder the link becomes adds a random part (see runLink).
  const holder = `${hostname().replace(/:/g, '')}:${process.pid}:${threadId}`;
  const link = new Link(
    ({ port, words }) =>
      new Worker(shareEntry(), {
        workerData: { role: 'link', url: config.url, queue: config.queue, caller, holder, port, words } satisfies LinkData,
        transferList: [port],
        stdout: false,
        stderr: false,
      }),
  );
  links.set(caller, link);
  return link;
}

/** The entry file of share threads, holders' server threads and hosts' link threads, beside tandem's own code. */
export function shareEntry(): string {
  if (codeFile === null) {
    throw new SharedObjectUnavailableError(
      "shared objects cannot cross to or from tandem worker hosts when tandem's own files cannot be found",
      'run tandem from its package, not from a bundle',
    );
  }
  // tandem's code runs from the root of its build, or from one of its entry files below it.
  let root = dirname(codeFile);
  if (basename(root) === 'worker') root = dirname(root);
  else if (basename(root) === 'redis' && basename(dirname(root)) === 'share') root = dirname(dirname(root));
  return join(root, 'share', 'redis', `entry${entryExtension(codeFile)}`);
}

export interface LinkData {
  role: 'link';
  url: string;
  queue: string;
  caller: string;
  /** What the ids of the holders it becomes start with: host, pid, thread. */
  holder: string;
  port: MessagePort;
  /** The words it shares with the task's thread (../client.ts); it rings the first, BELL, after a Sync reply. */
  words: SharedArrayBuffer;
}

interface ShareCommands {
  tandemPush(open: string, list: string, ttl: number, token: string, ...requests: Buffer[]): Promise<number>;
  tandemBeat(open: string, alive: string, ttl: number, token: string, first: string): Promise<number>;
}

/**
 * The link thread: requests from the task's thread to the caller's list,
 * replies from the holder's list back, and the holder's heartbeat.
 *
 * It joins the share thread that serves its caller at its first request (as a
 * holder with a new id and heartbeat key). When that share thread is gone (its
 * pool closed) or gave this holder up for dead, the requests it had taken are
 * answered with SharedObjectUnavailableError, and the link rests: the next
 * request joins whichever share thread of the caller serves then, as a new
 * holder (what the old one held was freed), or fails if none does. Resting,
 * not ending, so that a task starting on this thread just then never meets a
 * link on its way out; a link that rested for 10 s ends.
 */
export async function runLink(data: LinkData): Promise<void> {
  const port = parentPort!;
  const bell = new Int32Array(data.words);
  // However this thread ends, the task's thread learns it at once (it may be blocked in a Sync request).
  process.on('exit', () => linkThreadEnded(bell));
  const keys = shareKeys(data.queue, data.caller);
  /** Requests not answered yet: id → op, for the error that answers them if the caller is lost. */
  const open = new Map<number, string>();
  const blocking = new Set<number>();
  /** Requests the share thread this link joined has taken and not answered yet. */
  const taken = new Set<number>();
  let outbox: unknown[][] = [];
  let holder = '';
  let token: string | null = null;
  let restingSince = Date.now();
  let command: (Redis & ShareCommands) | null = null;

  const deliver = (reply: Reply): void => {
    const id = reply[0];
    open.delete(id);
    taken.delete(id);
    if (blocking.delete(id)) {
      data.port.postMessage(reply);
      Atomics.add(bell, 0, 1);
      Atomics.notify(bell, 0);
    } else {
      port.postMessage(reply);
    }
  };
  const fail = (ids: Iterable<number>, why: string): void => {
    for (const id of [...ids]) {
      const error = new SharedObjectUnavailableError(
        `${open.get(id)}() cannot reach the caller that owns it: ${why}`,
        'a task must use shared objects only while the pool it was given to is open',
      );
      deliver([id, false, toWire(error)]);
    }
  };
  /** The share thread it joined is gone: what it took is lost with it. */
  const rest = (why: string): void => {
    fail(taken, why);
    token = null;
    restingSince = Date.now();
  };
  /** Joins the share thread that serves now, as a new holder: false when none does. */
  const join = async (client: Redis & ShareCommands): Promise<boolean> => {
    const current = await client.get(keys.open);
    if (current === null) return false;
    holder = `${data.holder}:${randomBytes(4).toString('hex')}`;
    // The heartbeat key exists before the first request: the caller never sees a holder without one.
    if ((await client.tandemBeat(keys.open, keys.alive(holder), HEARTBEAT_TTL_MS, current, '1')) !== KEPT) return false;
    token = current;
    return true;
  };
  const push = async (client: Redis & ShareCommands): Promise<void> => {
    const sending = outbox;
    outbox = [];
    for (let at = 0; at < sending.length; at += BATCH) {
      const batch = sending.slice(at, at + BATCH);
      for (;;) {
        if (token === null && !(await join(client))) {
          fail(
            batch.map((message) => message[0] as number).filter((id) => open.has(id)),
            CLOSED_WHY,
          );
          break;
        }
        const buffers: Buffer[] = [];
        for (const message of batch) {
          try {
            buffers.push(serialize([holder, message]));
          } catch (error) {
            // A value v8 cannot serialize fails its own request only.
            if (open.has(message[0] as number)) deliver([message[0] as number, false, toWire(error)]);
          }
        }
        if (buffers.length === 0) break;
        const pushed = await client.tandemPush(keys.open, keys.requests, LIST_TTL_MS, token ?? '', ...buffers);
        if (pushed === KEPT) {
          for (const message of batch) if (message.length > 1) taken.add(message[0] as number);
          break;
        }
        rest(pushed === CLOSED ? CLOSED_WHY : RESTARTED_WHY);
        // Closed: the next turn finds no share thread and fails them. Another one serves: they go to it.
      }
    }
  };
  // One push at a time, so requests (and a cancel after its request) reach the caller in the order they were made.
  let pushing = Promise.resolve();
  const send = (): void => {
    const client = command;
    if (client === null || outbox.length === 0) return;
    pushing = pushing
      .then(() => push(client))
      .catch((error: unknown) => {
        // Redis refused a command (it is away, and ioredis gave up): every open request fails.
        rest((error as Error)?.message ?? String(error));
        fail(open.keys(), (error as Error)?.message ?? String(error));
      });
  };

  /** Frames received from the task's thread (see linkThreadMayEnd). */
  let received = 0;
  port.on('message', (buffer: Uint8Array) => {
    received = nextPosted(received);
    // A frame of ../wire.ts: the task's thread framed it for a socket.
    const message = deserialize(buffer.subarray(4)) as unknown[];
    const id = message[0] as number;
    if (message.length > 1) {
      open.set(id, message[2] as string);
      // Odd ids are Sync requests (../client.ts): their reply goes to the port the task's thread reads.
      if (id % 2 === 1) blocking.add(id);
    } else if (!open.has(id)) {
      return;
    }
    if (outbox.length === 0) setImmediate(send);
    outbox.push(message);
  });

  let reader: Redis;
  try {
    const client = await connectRedis(data.url, `tandem-link-${data.holder}`);
    client.defineCommand('tandemPush', { numberOfKeys: 2, lua: PUSH_SCRIPT });
    client.defineCommand('tandemBeat', { numberOfKeys: 2, lua: BEAT_SCRIPT });
    reader = await connectRedis(data.url, `tandem-link-${data.holder}-replies`);
    command = client as Redis & ShareCommands;
  } catch (error) {
    // The task's side starts a new link for the next request; what reached this one fails.
    const why = (error as Error)?.message ?? String(error);
    for (;;) {
      fail(open.keys(), why);
      if (linkThreadMayEnd(bell, received)) process.exit(0);
      // A frame is on its way: it fails too, once here.
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  const client = command;
  let ending = false;
  const beat = setInterval(() => {
    if (token === null) {
      // Resting with nothing to do for long: this caller is likely gone for good. Not while a frame is on its way.
      if (open.size === 0 && outbox.length === 0 && Date.now() - restingSince > LINK_IDLE_MS && linkThreadMayEnd(bell, received)) {
        ending = true;
        clearInterval(beat);
        reader.disconnect();
        client.disconnect();
        setImmediate(() => process.exit(0));
      }
      return;
    }
    const beating = holder;
    client.tandemBeat(keys.open, keys.alive(beating), HEARTBEAT_TTL_MS, token, '0').then(
      (kept) => {
        // A push made this link a new holder meanwhile: this beat was about the old one.
        if (holder !== beating || token === null || kept === KEPT) return;
        rest(kept === CLOSED ? CLOSED_WHY : kept === RESTARTED ? RESTARTED_WHY : DEAD_WHY);
      },
      () => {},
    );
  }, HEARTBEAT_EVERY_MS);
  send();

  while (!ending) {
    let buffers: Buffer[];
    try {
      // Not blocking for good: the key to read changes when the link joins another share thread.
      const first = token === null ? null : await reader.blpopBuffer(keys.reply(holder), 1);
      if (first === null) {
        if (token === null) await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const more = await reader.lpopBuffer(keys.reply(holder), BATCH - 1);
      buffers = more ? [first[1], ...more] : [first[1]];
    } catch {
      continue; // ending (the loop ends), or ioredis reconnects
    }
    for (const buffer of buffers) {
      try {
        const reply = deserialize(buffer) as Reply;
        if (Array.isArray(reply) && open.has(reply[0])) deliver(reply);
      } catch {
        // not ours to understand
      }
    }
  }
}

/** A link that rested this long with nothing to do ends (a new one starts if its caller comes back). */
const LINK_IDLE_MS = HEARTBEAT_TTL_MS;

const CLOSED_WHY = "the caller's pool that was given it is closed, or the caller's process ended";
const RESTARTED_WHY = "the caller's pool that was given it closed while this request waited";
const DEAD_WHY = `the caller presumed this host dead (no heartbeat for ${HEARTBEAT_TTL_MS} ms) and gave what it held to others`;
