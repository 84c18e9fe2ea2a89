import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { CliUsageError, InvalidOptionError, RedisUnavailableError, TandemError } from '../errors.js';
import { type RedisWorkerOptions, runWorker } from '../redis/worker.js';

/**
 * `tandem worker --redis URL --queue NAME --tasks ./dist/tasks.js [--tasks …]`:
 * serves a queue of `backend: 'redis'` pools on this host until SIGTERM, then
 * drains. Exit codes: 0 drained, 1 Redis unreachable (or another failure), 2
 * usage error.
 */

export interface WorkerCommandOptions {
  redis: string;
  queue: string;
  tasks: string[];
  backend: 'thread' | 'process';
  size: number;
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
}

const HELP = `
Run it on every host with the same --queue and the same task modules (the
same code version as the callers). Callers change one option:
  new Pool({ backend: 'redis', redis: 'redis://host:6379', queue: 'images' })

A job names its task by its module's path relative to its package root plus
the export name (dist/tasks#resize); only tasks exported by --tasks modules
run. SIGTERM (or Ctrl-C) drains: running jobs finish, no new ones are taken.
A host killed mid-job: its jobs run again on another host after
--lock-duration ms.

Examples:
  $ tandem worker --redis redis://127.0.0.1:6379 --queue images --tasks ./dist/tasks.js
  $ tandem worker --redis rediss://user:pass@redis.internal:6380 --queue q --tasks ./a.js --tasks ./b.js --size 16`;

/** Runs the worker for the command line; resolves with the exit code. */
export async function workerCommand(options: WorkerCommandOptions): Promise<number> {
  const worker: RedisWorkerOptions = {
    redis: options.redis,
    queue: options.queue,
    tasks: options.tasks,
    backend: options.backend,
    size: options.size,
    concurrency: options.concurrency,
    lockDuration: options.lockDuration,
    stalledInterval: options.stalledInterval,
  };
  try {
    await runWorker(worker);
    return 0;
  } catch (error) {
    if (error instanceof InvalidOptionError) throw new CliUsageError(error.message, { cause: error });
    if (error instanceof RedisUnavailableError) {
      process.stderr.write(`tandem worker: ${error.message}\n`);
      return 1;
    }
    if (error instanceof TandemError) {
      process.stderr.write(`tandem worker: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** Parses a whole number ≥ min for an option (commander calls it with each value). */
function whole(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new CliUsageError(`expected a whole number ≥ ${min}, got '${value}'`);
    return n;
  };
}

/** Adds `tandem worker` to the program. */
export function registerWorkerCommand(program: Command, setExitCode: (code: number) => void = (code) => (process.exitCode = code)): void {
  program
    .command('worker')
    .description("serve a Redis queue of backend: 'redis' pools on this host, with a local pool using all its cores")
    .requiredOption('--redis <url>', 'the Redis server: redis://[user:password@]host:port[/db] or rediss://… (TLS)')
    .requiredOption('--queue <name>', "the queue name, as in the callers' queue option")
    .requiredOption('--tasks <module>', 'a module whose exported tasks this worker serves (repeat for more)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--backend <kind>', 'local pool: thread or process', 'thread')
    .option('--size <n>', 'local workers', whole(1), availableParallelism())
    .option('--concurrency <n>', 'jobs held at once (default: size × 2)', whole(1))
    .option('--lock-duration <ms>', 'a host silent this long is presumed dead; its jobs run elsewhere', whole(1000), 30_000)
    .option('--stalled-interval <ms>', 'how often to look for jobs of dead hosts', whole(1000), 30_000)
    .addHelpText('after', HELP)
    .action(async (options: WorkerCommandOptions) => setExitCode(await workerCommand(options)));
}
