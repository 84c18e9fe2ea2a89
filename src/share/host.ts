/**
 * Sharing with child processes, the caller's side. A child process cannot
 * map the caller's SharedArrayBuffers, so it reaches each shared object
 * through the caller, as Python's Manager serves proxies:
 *
 *   caller process                                       child process (a process worker)
 *   ┌───────────────────────────────────────────┐        ┌──────────────────────────────────┐
 *   │ main thread: Lock L (its SharedArrayBuffer)│        │ task: lock.acquireSync()         │
 *   │   │ registers L (id 7) with every server   │        │   │ request [id, 7, 'acquireSync']│
 *   │   ▼                                        │ socket │   ▼                              │
 *   │ server thread of this child ◄──────────────┼────────┼─ link thread (reads replies even │
 *   │   acts on L's memory (runAsync waits),     │        │   while the task's thread blocks)│
 *   │   owns L for the child, joins the          │        └──────────────────────────────────┘
 *   │   deadlock graph; ends when the child does │
 *   └───────────────────────────────────────────┘
 *
 * The object the task receives is of the same class, with the same methods
 * (./client.ts); each of its operations is a request to the server thread
 * (./server.ts), started just before the child receives its first shared object.
 * The caller's object stays the one authority: a thread pool and a process
 * pool can share one Lock at the same time.
 */
import { Worker } from 'node:worker_threads';
import { dirname, join } from 'node:path';
import { SerializationError, SharedObjectUnavailableError } from '../errors.js';
import { codeFile, entryExtension } from '../location.js';
import { collectThreadGlobals, encodeShared, registerShareable, SHARED_MARKER, type Shareable, type SharedMarker } from '../shareable.js';
import { threadExited, threadServes } from '../sync/liveness.js';
import { KINDS } from './ops.js';
import { SharedQueue } from '../shared/queue.js';
import { HOST_KIND } from './redis/keys.js';
import { FLAG_SHARED, FRAME_FIELDS, P_CHUNK, P_HELLO, P_RUN } from '../protocol.js';
import type { Registration } from './server.js';
import { assertCanServeProcesses } from './support.js';
import { removeSocket } from './socket.js';

/** The marker kind of a shared object on its way to (or back from) a child process. */
export const REMOTE_KIND = 'tandem.remote';

/** What a child rebuilds a shared object from: its id at the caller, its class, and what never changes (name, type, ...). */
export interface RemoteState {
  id: number;
  kind: string;
  meta: Record<string, unknown>;
}

let nextId = 0;
/** Whether any shared object was ever encoded for a child: until then no batch needs looking at. */
let crossed = false;
const ids = new WeakMap<object, number>();
const objects = new Map<number, WeakRef<Shareable>>();
const forget = new FinalizationRegistry<number>((id) => objects.delete(id));
const servers = new Set<ServerThread>();
/** Servers other than a child's server thread (src/share/redis/) that hear of every shared object. */
const listeners = new Set<(registration: Registration) => void>();

/** The marker standing for `object` in a message to a child process (registering it with every server thread). */
export function toRemoteMarker(object: Shareable): SharedMarker {
  const shared = object[encodeShared]();
  // A host's ticket for a caller's object (./redis/link.ts): its process worker reaches the caller itself.
  if (shared.kind === HOST_KIND) return { [SHARED_MARKER]: HOST_KIND, state: shared.state };
  const table = KINDS[shared.kind];
  if (!table) {
    throw new SerializationError(
      -1,
      `a shared object of kind '${shared.kind}'`,
      "only tandem's own shared classes can be passed to a process worker; use the thread backend for it",
    );
  }
  assertCanServeProcesses();
  crossed = true;
  let id = ids.get(object);
  if (id === undefined) {
    id = ++nextId;
    ids.set(object, id);
    objects.set(id, new WeakRef(object));
    forget.register(object, id);
    for (const server of servers) server.register([id, shared]);
    for (const listener of listeners) listener([id, shared]);
  }
  const meta = table.meta(object);
  // A Condition's lock crosses as a remote object of its own.
  if (shared.kind === 'tandem.Condition') meta.lock = toRemoteMarker((object as unknown as { lock: Shareable }).lock);
  const state: RemoteState = { id, kind: shared.kind, meta };
  const marker: SharedMarker = { [SHARED_MARKER]: REMOTE_KIND, state };
  // The registry holds objects weakly; the call that carries the marker keeps
  // its object alive until the call settles (a symbol key never crosses), so
  // a server thread started for it finds the object however soon the caller
  // let go of it (`pool.run(task, new Lock())`).
  Object.defineProperty(marker, KEEP, { value: object });
  return marker;
}

const KEEP = Symbol('tandem.remote.keep');

// In the caller, a remote object a task sends back is the caller's own object again.
registerShareable(REMOTE_KIND, (state) => {
  const object = objects.get((state as RemoteState).id)?.deref();
  if (!object) {
    throw new SharedObjectUnavailableError(
      'a shared object came back from a process worker, but no object of this process stands behind it',
      'pass shared objects from the process that created them',
    );
  }
  return object;
});

/**
 * Whether a batch for a worker carries shared objects (a call, chunk or init
 * flagged FLAG_SHARED), so that its server thread must run before the child
 * asks. The caller starts it, not the child: a child that asked would have to
 * get its message out before its task blocks, which Bun's IPC does not do.
 */
export function carriesSharedObjects(batch: unknown[]): boolean {
  if (!crossed) return false;
  for (let at = 0; at < batch.length; at += 1 + FRAME_FIELDS[batch[at] as number]) {
    const tag = batch[at];
    if ((tag === P_RUN || tag === P_CHUNK) && ((batch[at + 4] as number) & FLAG_SHARED) !== 0) return true;
    if (tag === P_HELLO && (((batch[at + 1] as HelloInit).init?.flags ?? 0) & FLAG_SHARED) !== 0) return true;
  }
  return false;
}

type HelloInit = { init: { flags: number } | null };

/** The server thread of one child process; started before the first batch with shared objects goes to it, ended with the child. */
export class ServerThread {
  readonly #path: string;
  #worker: Worker | null = null;
  #stopped = false;

  constructor(path: string) {
    this.#path = path;
  }

  get started(): boolean {
    return this.#worker !== null || this.#stopped;
  }

  /** Starts it (once), before the child receives its first shared object. `pid` names the child in deadlock reports. */
  start(pid: number | undefined): void {
    if (this.#worker || this.#stopped) return;
    const worker = new Worker(serverEntry(), {
      workerData: { path: this.#path, threadGlobals: collectThreadGlobals(), objects: liveRegistrations() },
      env: {},
      stdout: false,
      stderr: false,
    });
    const threadId = worker.threadId;
    if (pid !== undefined) threadServes(threadId, pid);
    worker.unref();
    worker.on('error', () => {});
    worker.on('message', (message: { orphans?: [number, Uint8Array[]][] }) => {
      for (const [id, values] of message.orphans ?? []) adoptPuts(id, values);
    });
    worker.once('exit', () => {
      // What the child held goes to the next acquirer, as a dead thread worker's does.
      threadExited(threadId);
      servers.delete(this);
      removeSocket(this.#path);
    });
    this.#worker = worker;
    servers.add(this);
    removeAtExit();
  }

  /** @internal The socket's path, for removal when this process exits first. */
  get path(): string {
    return this.#path;
  }

  register(registration: Registration): void {
    this.#worker?.postMessage(registration);
  }

  /**
   * The child is gone: the thread ends (its exit frees the child's locks).
   * It ends by itself once its socket closes, which the child's death does:
   * first it reads what the child wrote last (a release, a lease note) and
   * frees the leases no task held (./lease.ts). Only a thread that does not
   * (its child never connected) is terminated, after a grace period.
   */
  stop(): void {
    this.#stopped = true;
    const worker = this.#worker;
    if (worker) setTimeout(() => void worker.terminate(), STOP_GRACE_MS).unref();
    else removeSocket(this.#path);
  }
}

/**
 * Puts a dead child sent into queue `id` that were still waiting for room
 * (./queue-side.ts): the caller puts them, in order, so none is lost. The
 * waits hold no reference on the event loop: a queue nobody drains any more
 * does not keep the caller alive.
 */
async function adoptPuts(id: number, values: Uint8Array[]): Promise<void> {
  const queue = objects.get(id)?.deref();
  if (!(queue instanceof SharedQueue)) return;
  for (const bytes of values) {
    try {
      await queue.putEncoded(bytes);
    } catch {
      // Closed meanwhile: like any put after close, it has nowhere to go.
      return;
    }
  }
}

/** How long a server thread whose child is gone may take to end by itself (ms). */
const STOP_GRACE_MS = 2_000;

/** Every shared object that crossed so far and still lives, as a server registers it. */
function liveRegistrations(): Registration[] {
  const registrations: Registration[] = [];
  for (const [id, ref] of objects) {
    const object = ref.deref();
    if (object) registrations.push([id, object[encodeShared]()]);
  }
  return registrations;
}

/** `listener` hears of every shared object from now on; returns those known so far. */
export function hearRegistrations(listener: (registration: Registration) => void): Registration[] {
  listeners.add(listener);
  return liveRegistrations();
}

export function stopHearingRegistrations(listener: (registration: Registration) => void): void {
  listeners.delete(listener);
}

let removing = false;

/** Server threads still running when this process exits cannot clean up after themselves: remove their sockets here. */
function removeAtExit(): void {
  if (removing) return;
  removing = true;
  process.once('exit', () => {
    for (const server of servers) removeSocket(server.path);
  });
}

/** The server thread's entry file, beside tandem's other worker entries. */
function serverEntry(): string {
  // assertCanServeProcesses() checked, before any object crossed, that tandem runs from its own files.
  return join(dirname(codeFile!), 'worker', `share-server-entry${entryExtension(codeFile!)}`);
}
