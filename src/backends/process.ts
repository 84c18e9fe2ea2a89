import { fork } from 'node:child_process';
import { deserialize, serialize } from 'node:v8';
import type { Socket } from 'node:net';
import type { Backend, ExitInfo, ResourceLimits, SpawnSpec, WorkerEvents, WorkerHandle } from './backend.js';
import { workerEntry } from './entry.js';
import { LAST_WORDS_TICKET, RESCUE_TICKET, SIDE_FD_ENV, SIDE_RECORD_BYTES } from '../worker/claims.js';
import { rescuedBatch } from '../worker/rescue.js';
import { RUNTIME } from '../runtimes.js';
import { ServerThread, carriesSharedObjects } from '../share/host.js';
import { SHARE_SOCKET_ENV } from '../share/client.js';
import { hostChildEnv } from '../share/redis/link.js';
import { socketPath } from '../share/socket.js';

/**
 * Workers are child processes: own memory, own heap limit, a crash cannot
 * touch the caller. Messages use Node's `advanced` (V8) serialization, so
 * arguments keep the same types as with threads.
 */
export const processBackend: Backend = {
  kind: 'process',
  reportsStart: true,
  preemptible: true,
  boundary: 'process',
  spawn(spec: SpawnSpec, events: WorkerEvents): WorkerHandle {
    const entry = workerEntry('process');
    // Shared objects reach the child through a thread of ours, started when it first needs one (src/share/host.ts).
    const sharePath = socketPath();
    const share = new ServerThread(sharePath);
    const child = fork(entry.file, [], {
      serialization: 'advanced',
      execArgv: [...(spec.execArgv ?? inheritableExecArgv()), ...limitFlags(spec.resourceLimits)],
      env: { ...process.env, ...spec.env, ...entry.env, ...hostChildEnv(), [SIDE_FD_ENV]: String(SIDE_FD), [SHARE_SOCKET_ENV]: sharePath },
      // stdin stays the caller's alone (a CLI may read its input from it); stderr
      // is read to tell an out-of-memory death from other aborts, then passed on;
      // fd 4 is the side pipe to the child's keeper thread (takeBack below).
      stdio: ['ignore', 'inherit', 'pipe', 'ipc', 'pipe'],
    });
    const side = child.stdio[SIDE_FD] as Socket;
    // Take-back answers, and batches the child's keeper sends for its main thread (last words, rescued results).
    const takeBacks = new SideAnswers(side, (batch) => events.message(batch));
    let outOfMemory = false;
    let lastError = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (text.includes('heap out of memory') || text.includes('Reached heap limit')) outOfMemory = true;
      lastError = (lastError + text).slice(-4000);
      process.stderr.write(chunk);
    });
    let killed = false;
    child.on('message', (batch: unknown[]) => events.message(batch));
    // A failed spawn (or send to a dead child) reports here; exit follows.
    child.on('error', (error) => {
      lastError = String(error);
    });
    child.once('exit', (exitCode, signal) => {
      // Its server thread ends, and what the child held goes to the next acquirer.
      share.stop();
      // An uncaught error arrives before this as the worker's last words (W_DYING); the pool reads them.
      const info: ExitInfo = { exitCode, signal, error: lastError || null, reason: 'exit' };
      if (outOfMemory) info.reason = 'out-of-memory';
      else if (killed || signal === 'SIGKILL') info.reason = 'killed';
      // Deno may emit 'exit' before the child's last messages; they all come
      // before its channel closes, and last words on the side pipe before that closes.
      let open = (child.connected ? 1 : 0) + (side.closed ? 0 : 1);
      if (open === 0) return events.exit(info);
      const report = (): void => {
        clearTimeout(grace);
        child.off('disconnect', closed);
        side.off('close', closed);
        events.exit(info);
      };
      const closed = (): void => {
        if (--open === 0) report();
      };
      const grace = setTimeout(report, EXIT_GRACE_MS);
      if (child.connected) child.once('disconnect', closed);
      if (!side.closed) side.once('close', closed);
    });
    return {
      send: (batch) => {
        if (!child.connected) return;
        if (!share.started && carriesSharedObjects(batch)) share.start(child.pid);
        // Deno serializes after send() returns, and an argument that cannot be (a buffer detached since
        // submit) then throws in no one's hands: serialize first, so it throws here, as on Node.
        if (SERIALIZES_LATER) serialize(batch);
        child.send(batch);
      },
      kill: () => {
        killed = true;
        child.kill('SIGKILL');
      },
      // The child's main thread may be deep in a long call: its keeper thread answers instead.
      takeBack: (ticket, answer) => takeBacks.ask(ticket, answer),
      setRef: (ref) => {
        // The child, its channel and its stderr pipe each hold the event loop.
        const channel = child.channel as { ref?(): void; unref?(): void } | null | undefined;
        if (ref) {
          child.ref();
          channel?.ref?.();
          (child.stderr as { ref?(): void } | null)?.ref?.();
          side.ref();
        } else {
          child.unref();
          channel?.unref?.();
          (child.stderr as { unref?(): void } | null)?.unref?.();
          side.unref();
        }
      },
    };
  },
};

const SERIALIZES_LATER = RUNTIME.name === 'deno';

/** How long a child's exit waits for its channel to close, whose last messages may follow the exit (Deno). */
const EXIT_GRACE_MS = 1_000;

/** The side pipe's descriptor in the child (it learns it from SIDE_FD_ENV). */
const SIDE_FD = 4;

/**
 * Take-back requests to a child's keeper thread and its answers, over the side
 * pipe: a request is the ticket (float64), an answer the ticket and 1 (taken)
 * or 0 (it had started). See src/worker/process-serve.ts for the other end.
 * A child may also leave its last words there (LAST_WORDS_TICKET), and its
 * keeper the results its main thread holds while stuck (RESCUE_TICKET).
 */
class SideAnswers {
  readonly #side: Socket;
  readonly #batch: (batch: unknown[]) => void;
  readonly #waiting = new Map<number, (taken: boolean) => void>();
  #partial: Buffer = Buffer.alloc(0);

  constructor(side: Socket, batch: (batch: unknown[]) => void) {
    this.#side = side;
    this.#batch = batch;
    side.on('data', (chunk: Buffer) => this.#read(chunk));
    // A child that dies takes its answers with it; its exit settles its calls.
    side.on('error', () => {});
  }

  ask(ticket: number, answer: (taken: boolean) => void): void {
    this.#waiting.set(ticket, answer);
    const request = Buffer.allocUnsafe(8);
    request.writeDoubleLE(ticket, 0);
    if (!this.#side.destroyed) this.#side.write(request);
  }

  #read(chunk: Buffer): void {
    const data = this.#partial.length > 0 ? Buffer.concat([this.#partial, chunk]) : chunk;
    let at = 0;
    for (; at + SIDE_RECORD_BYTES <= data.length; at += SIDE_RECORD_BYTES) {
      const ticket = data.readDoubleLE(at);
      if (ticket === LAST_WORDS_TICKET || ticket === RESCUE_TICKET) {
        const end = at + SIDE_RECORD_BYTES + data.readDoubleLE(at + 8);
        if (end > data.length) break; // the rest of the record is still on its way
        const body = data.subarray(at + SIDE_RECORD_BYTES, end);
        this.#batch(ticket === RESCUE_TICKET ? rescuedBatch(body) : (deserialize(body) as unknown[]));
        at = end - SIDE_RECORD_BYTES;
        continue;
      }
      const answer = this.#waiting.get(ticket);
      this.#waiting.delete(ticket);
      answer?.(data.readDoubleLE(at + 8) === 1);
    }
    this.#partial = data.subarray(at);
  }
}

/** The caller's execArgv minus debugger flags (a second process cannot bind the same inspector port). */
function inheritableExecArgv(): string[] {
  return process.execArgv.filter((flag) => !/^--(inspect|debug)/.test(flag));
}

function limitFlags(limits: ResourceLimits | undefined): string[] {
  if (!limits) return [];
  const flags: string[] = [];
  if (limits.maxOldGenerationSizeMb) flags.push(`--max-old-space-size=${limits.maxOldGenerationSizeMb}`);
  if (limits.maxYoungGenerationSizeMb) flags.push(`--max-semi-space-size=${Math.max(1, Math.floor(limits.maxYoungGenerationSizeMb / 3))}`);
  if (limits.stackSizeMb) flags.push(`--stack-size=${Math.floor(limits.stackSizeMb * 1024)}`);
  return flags;
}
