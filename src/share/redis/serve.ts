/**
 * The caller's threads that serve hosts (the picture is in ./keys.ts).
 *
 * The share thread reads every holder's requests from one list, with a
 * blocking connection of its own, and hands each to the server thread of the
 * holder that sent it (started on its first request): a holder is one thread
 * of one host, so each gets an owner identity of its own, as each process
 * worker does (../server.ts). RLock depth, Condition ownership, the wait-for
 * graph and robust locks then hold across hosts without a line of their own.
 * Replies go back on the holder's reply list.
 *
 * Once a second, the share thread refreshes its own key and looks at each
 * holder's: a holder whose key expired (its host was killed, or its thread
 * ended) is dead. Its server thread ends, and that thread's exit frees what
 * the holder held, as a dead thread worker's does (src/sync/liveness.ts); a
 * request from it later is refused, since the holder no longer holds what it
 * thinks it holds.
 */
import { randomBytes } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { parentPort, Worker } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import { SharedObjectUnavailableError } from '../../errors.js';
import { connectRedis } from '../../redis/connect.js';
import { installThreadGlobals } from '../../shareable.js';
import { threadExited, threadServesHolder } from '../../sync/liveness.js';
import { ShareServer, type Registration } from '../server.js';
import { toWire, type Cancel, type Reply, type Request } from '../wire.js';
import { BATCH, HEARTBEAT_EVERY_MS, HEARTBEAT_TTL_MS, holderLabel, LIST_TTL_MS, shareKeys, type HostRequest } from './keys.js';

export interface ServeData {
  role: 'serve';
  /** This file's entry, for the holders' server threads. */
  entry: string;
  url: string;
  queue: string;
  caller: string;
  threadGlobals: Record<string, unknown> | null;
  objects: Registration[];
}

export interface HolderData {
  role: 'holder';
  threadGlobals: Record<string, unknown> | null;
  objects: Registration[];
}

interface Holder {
  worker: Worker;
  exited: Promise<void>;
}

/** The share thread: runs until the caller's last redis pool on this queue closes. */
export async function serveHosts(data: ServeData): Promise<void> {
  installThreadGlobals(data.threadGlobals);
  const port = parentPort!;
  const keys = shareKeys(data.queue, data.caller);
  const registrations = data.objects;
  const known = new Set(registrations.map(([id]) => id));
  const holders = new Map<string, Holder>();
  const dead = new Set<string>();
  const replies = new Map<string, Buffer[]>();
  const token = randomBytes(8).toString('hex');
  let reader: Redis;
  let writer: Redis;
  try {
    reader = await connectRedis(data.url, `tandem-share-${data.caller}`);
    writer = await connectRedis(data.url, `tandem-share-${data.caller}-replies`);
    await writer.set(keys.open, token, 'PX', HEARTBEAT_TTL_MS);
  } catch (error) {
    port.postMessage(['failed', toWire(error)]);
    process.exit(0);
  }
  let open = true;

  const flush = (): void => {
    if (!open) return;
    const pipeline = writer.pipeline();
    for (const [holder, buffers] of replies) {
      const key = keys.reply(holder);
      pipeline.rpush(key, ...buffers).pexpire(key, LIST_TTL_MS);
    }
    replies.clear();
    void pipeline.exec().catch(() => {});
  };
  const reply = (holder: string, message: Reply): void => {
    if (replies.size === 0) setImmediate(flush);
    let buffers = replies.get(holder);
    if (!buffers) replies.set(holder, (buffers = []));
    buffers.push(serialize(message));
  };

  const start = (holder: string): Holder => {
    const worker = new Worker(data.entry, {
      workerData: { role: 'holder', threadGlobals: data.threadGlobals, objects: registrations } satisfies HolderData,
      stdout: false,
      stderr: false,
    });
    const threadId = worker.threadId;
    threadServesHolder(threadId, holderLabel(holder));
    worker.on('error', () => {});
    worker.on('message', (message: Reply) => reply(holder, message));
    // What the holder held goes to the next acquirer, as a dead thread worker's does.
    const exited = new Promise<void>((resolve) =>
      worker.once('exit', () => {
        threadExited(threadId);
        resolve();
      }),
    );
    const started = { worker, exited };
    holders.set(holder, started);
    return started;
  };
  const route = ([holder, message]: HostRequest): void => {
    if (dead.has(holder)) {
      if (message.length > 1) reply(holder, [message[0] as number, false, toWire(presumedDead(holder))]);
      return;
    }
    // Every object that crossed was registered here before its job left (a server thread would wait for it forever).
    if (message.length > 1 && !known.has(message[1] as number)) {
      reply(holder, [message[0] as number, false, toWire(forgotten())]);
      return;
    }
    (holders.get(holder) ?? start(holder)).worker.postMessage(['message', message]);
  };
  const bury = (holder: string): void => {
    const gone = holders.get(holder);
    if (!gone) return;
    holders.delete(holder);
    dead.add(holder);
    void gone.worker.terminate();
  };

  const beat = setInterval(() => {
    const known = [...holders.keys()];
    const pipeline = writer.pipeline().set(keys.open, token, 'PX', HEARTBEAT_TTL_MS);
    for (const holder of known) pipeline.exists(keys.alive(holder));
    void pipeline.exec().then(
      (results) => {
        if (!open || !results) return;
        known.forEach((holder, i) => {
          const [error, exists] = results[i + 1] ?? [];
          if (!error && exists === 0) bury(holder);
        });
      },
      () => {},
    );
  }, HEARTBEAT_EVERY_MS);

  const close = async (): Promise<void> => {
    open = false;
    clearInterval(beat);
    reader.disconnect();
    // First the key that lets hosts write: after it, no host adds a key of this caller.
    await writer.del(keys.open).catch(() => {});
    const ending = [...holders.values()];
    for (const holder of ending) void holder.worker.terminate();
    await Promise.all(ending.map((holder) => holder.exited));
    try {
      let cursor = '0';
      do {
        const [next, found] = await writer.scan(cursor, 'MATCH', keys.pattern, 'COUNT', 1000);
        if (found.length > 0) await writer.del(...found);
        cursor = next;
      } while (cursor !== '0');
    } catch {
      // Redis is away: every key of this caller expires by itself.
    }
    await writer.quit().catch(() => writer.disconnect());
    process.exit(0);
  };
  port.on('message', (message: unknown[]) => {
    if (message[0] === 'register') {
      const registration = message[1] as Registration;
      registrations.push(registration);
      known.add(registration[0]);
      for (const holder of holders.values()) holder.worker.postMessage(['register', registration]);
    } else if (message[0] === 'close') {
      void close();
    }
  });
  port.postMessage(['ready']);

  while (open) {
    let buffers: Buffer[];
    try {
      const first = await reader.blpopBuffer(keys.requests, 0);
      if (first === null) continue;
      const more = await reader.lpopBuffer(keys.requests, BATCH - 1);
      buffers = more ? [first[1], ...more] : [first[1]];
    } catch {
      // Closing (the reader was disconnected); otherwise ioredis reconnects and the loop goes on.
      if (!open) return;
      continue;
    }
    for (const buffer of buffers) {
      let request: HostRequest;
      try {
        request = deserialize(buffer) as HostRequest;
      } catch {
        continue; // not ours to understand: never let a foreign value stop the thread
      }
      if (Array.isArray(request) && typeof request[0] === 'string' && Array.isArray(request[1])) route(request);
    }
  }
}

function presumedDead(holder: string): SharedObjectUnavailableError {
  return new SharedObjectUnavailableError(
    `${holderLabel(holder)} was presumed dead (its heartbeat stopped for ${HEARTBEAT_TTL_MS} ms), and what it held was given to others`,
    'its task must not go on as if it still held it; a host under such load needs fewer local workers',
  );
}

function forgotten(): SharedObjectUnavailableError {
  return new SharedObjectUnavailableError(
    'the caller no longer has this shared object (nothing there referred to it any more, so it was collected)',
    'keep the object referenced in the caller for as long as tasks on hosts use it',
  );
}

/** A server thread for one holder: the ShareServer of ../server.ts, its transport the share thread's messages. */
export function serveHolder(data: HolderData): void {
  installThreadGlobals(data.threadGlobals);
  const port = parentPort!;
  const server = new ShareServer();
  for (const registration of data.objects) server.register(registration);
  let handler: ((message: Request | Cancel) => void) | null = null;
  port.on('message', (message: unknown[]) => {
    if (message[0] === 'register') server.register(message[1] as Registration);
    else handler?.(message[1] as Request | Cancel);
  });
  server.serve({
    onMessage: (handle) => {
      handler = handle;
    },
    // The share thread ends this thread when the holder is gone.
    onGone: () => {},
    send: (reply) => port.postMessage(reply),
  });
}
