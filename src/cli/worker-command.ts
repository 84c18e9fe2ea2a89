import { type Command, Option } from 'commander';
import { CliUsageError, InvalidOptionError, RedisUnavailableError, TandemError } from '../errors.js';
import { type RedisWorkerOptions, runWorker } from '../redis/worker.js';
import { integer, keepOldName, sizeOption } from './options.js';

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
  /** Jobs held at once (`--in-flight`; the library's `concurrency`). */
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

/** Adds `tandem worker` to the program. */
export function registerWorkerCommand(program: Command, setExitCode: (code: number) => void = (code) => (process.exitCode = code)): void {
  const command = program
    .command('worker')
    .description("serve a Redis queue of backend: 'redis' pools on this host, with a local pool using all its cores")
    .requiredOption('--redis <url>', 'the Redis server: redis://[user:password@]host:port[/db] or rediss://… (TLS)')
    .requiredOption('--queue <name>', "the queue name, as in the callers' queue option")
    .requiredOption(
      '--tasks <module>',
      'a module whose exported tasks this worker serves (repeat for more)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--backend <kind>', 'local pool: thread or process', 'thread');
  const size = sizeOption('local workers');
  const inFlight = new Option('--in-flight <n>', 'jobs this host holds at once (default: size × 2)').argParser(integer(1));
  command
    .addOption(size)
    .addOption(inFlight)
    .option('--lock-duration <ms>', 'a host silent this long is presumed dead; its jobs run elsewhere', integer(1000), 30_000)
    .option('--stalled-interval <ms>', 'how often to look for jobs of dead hosts', integer(1000), 30_000);
  keepOldName(command, '--concurrency', inFlight);
  command
    .addHelpText('after', HELP)
    .action(async (options: WorkerCommandOptions & { inFlight?: number }) =>
      setExitCode(await workerCommand({ ...options, concurrency: options.inFlight })),
    );
}
