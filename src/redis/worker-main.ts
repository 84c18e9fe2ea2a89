/**
 * A standalone entry of `tandem worker` (node:util parseArgs, no commander),
 * for running a worker without the full CLI: `node dist/esm/redis/worker-main.js
 * --redis URL --queue NAME --tasks ./dist/tasks.js`. Same options and exit codes
 * as the command (see ../cli/worker-command.ts).
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { workerCommand } from '../cli/worker-command.js';
import { CliUsageError } from '../errors.js';

function whole(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new CliUsageError(`--${name} expects a whole number ≥ ${min}, got '${value}'`);
  return n;
}

export async function workerMain(argv: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        redis: { type: 'string' },
        queue: { type: 'string' },
        tasks: { type: 'string', multiple: true },
        backend: { type: 'string', default: 'thread' },
        size: { type: 'string' },
        'in-flight': { type: 'string' },
        // The old name of --in-flight, still accepted (see src/cli/options.ts).
        concurrency: { type: 'string' },
        'lock-duration': { type: 'string' },
        'stalled-interval': { type: 'string' },
      },
    });
    if (!values.redis || !values.queue || !values.tasks?.length) {
      throw new CliUsageError(
        'usage: tandem worker --redis URL --queue NAME --tasks ./dist/tasks.js [--tasks …] [--backend thread|process] [--size N]',
      );
    }
    if (values.concurrency !== undefined) {
      if (values['in-flight'] !== undefined) throw new CliUsageError('--concurrency is the old name of --in-flight: give only --in-flight');
      process.stderr.write('tandem worker: --concurrency is deprecated; use --in-flight (it means the same)\n');
    }
    if (values.backend !== 'thread' && values.backend !== 'process')
      throw new CliUsageError(`--backend must be thread or process, got '${values.backend}'`);
    return await workerCommand({
      redis: values.redis,
      queue: values.queue,
      tasks: values.tasks,
      backend: values.backend,
      size: whole('size', values.size, 1) ?? availableParallelism(),
      concurrency: whole('in-flight', values['in-flight'] ?? values.concurrency, 1),
      lockDuration: whole('lock-duration', values['lock-duration'], 1000),
      stalledInterval: whole('stalled-interval', values['stalled-interval'], 1000),
    });
  } catch (error) {
    if (error instanceof CliUsageError || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`tandem worker: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}

workerMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`tandem worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
