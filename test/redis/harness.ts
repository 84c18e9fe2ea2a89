// A real Redis and real `tandem worker` processes for test/redis: started on a
// free port of 127.0.0.1, stopped (all of them) by stopAll(). Nothing sleeps to
// synchronise: waits are on conditions (a port answering, a log line, an exit)
// with deadlines.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const TASKS = fileURLToPath(new URL('../fixtures/redis-tasks.mjs', import.meta.url));
/** A module that declares a task and, outside workers, calls it through Redis at top level. */
export const SELF_CALLER = fileURLToPath(new URL('../fixtures/redis-self-caller.mjs', import.meta.url));
/** A caller that does not close its pool. */
export const IDLE_CALLER = fileURLToPath(new URL('../fixtures/redis-idle-caller.mjs', import.meta.url));
const FIXTURE_WORKER = fileURLToPath(new URL('../fixtures/redis-worker.mjs', import.meta.url));
export const BUILT_WORKER = `${root}dist/esm/redis/worker-main.js`;

/** The redis-server binary: from PATH unless TANDEM_TEST_REDIS_SERVER names another. */
const REDIS_SERVER = process.env.TANDEM_TEST_REDIS_SERVER ?? 'redis-server';
export const redisInstalled = spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0;

const children = new Set<ChildProcess>();

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function until(what: string, check: () => boolean | Promise<boolean>, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(1_000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export async function startRedis(): Promise<{ url: string; port: number }> {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  children.add(child);
  await until(`redis-server on port ${port}`, () => answersPing(port));
  return { url: `redis://127.0.0.1:${port}`, port };
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  log(): string;
  exited: Promise<number | null>;
}

export interface WorkerArgs {
  redis: string;
  queue: string;
  size?: number;
  lockDuration?: number;
  stalledInterval?: number;
  /** The host's local pool (--backend). @default 'thread' */
  backend?: 'thread' | 'process';
  /** Jobs held at once (--in-flight). @default size × 2 */
  inFlight?: number;
  /** More --tasks modules, besides TASKS and SELF_CALLER. */
  tasks?: string[];
}

/** Starts `tandem worker` (the built entry when there is one) and waits until it serves, or exits. */
export async function startWorker(args: WorkerArgs, waitForServing = true): Promise<WorkerProcess> {
  const { redis, queue, size = 2, lockDuration = 2_000, stalledInterval = 1_000, backend, inFlight, tasks = [] } = args;
  const argv = existsSync(BUILT_WORKER)
    ? [
        BUILT_WORKER,
        '--redis',
        redis,
        '--queue',
        queue,
        '--tasks',
        TASKS,
        '--tasks',
        SELF_CALLER,
        ...tasks.flatMap((file) => ['--tasks', file]),
        ...(inFlight === undefined ? [] : ['--in-flight', String(inFlight)]),
        ...(backend === undefined ? [] : ['--backend', backend]),
        '--size',
        String(size),
        '--lock-duration',
        String(lockDuration),
        '--stalled-interval',
        String(stalledInterval),
      ]
    : [
        FIXTURE_WORKER,
        JSON.stringify({
          redis,
          queue,
          tasks: [TASKS, SELF_CALLER, ...tasks],
          size,
          lockDuration,
          stalledInterval,
          concurrency: inFlight,
          backend,
        }),
      ];
  const child = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout.on('data', (data) => (output += data));
  child.stderr.on('data', (data) => (output += data));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const worker: WorkerProcess = { child, pid: child.pid!, log: () => output, exited };
  if (waitForServing) {
    await until('the worker to serve', () => {
      if (exitCode !== undefined) throw new Error(`the worker exited (${exitCode}) before serving:\n${output}`);
      return output.includes('serving queue');
    });
  }
  return worker;
}

/** Runs a node script to its end; resolves with its exit code and output. */
export async function runNode(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [script], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout.on('data', (data) => (output += data));
  child.stderr.on('data', (data) => (output += data));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

/** Kills every process the harness started, and waits for them to be gone. */
export async function stopAll(): Promise<void> {
  const gone = [...children].map((child) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve())),
  );
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(gone);
  children.clear();
}
