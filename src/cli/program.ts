import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { TandemError } from '../errors.js';
import { type CompareOptions, compareCommand } from './compare/command.js';
import { integer, keepOldName, sizeOption } from './options.js';
import { runCommand, type RunOptions } from './run/command.js';
import { registerWorkerCommand } from './worker-command.js';

/**
 * The `tandem` command line (commander): parses, shows help, and maps
 * failures to exit codes — 2 for a usage error (the message says what to
 * change), 1 for a failure, the command's own code otherwise.
 */

/** The package version, found by walking up from this file (the bundle sits in dist/esm/cli). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (existsSync(path)) {
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tandem') return pkg.version ?? '0.0.0';
    }
  }
  return '0.0.0';
}

const COMPARE_HELP = `
Models: sequential (one call after another), inline async (this event loop,
calls overlapping while they wait), threads (worker_threads), processes
(child processes) and auto (tandem measures each task and picks). Built-in
workloads: cpu, io, mixed; they need no outside service. Each model runs
each workload several times (--runs), in rotating order: the table shows
the median and the spread (fastest–slowest run), and a verdict names a
winner only when each of its runs beat every run of the others; otherwise
it says which models are too close to call. It also says how sure it is.

Examples:
  $ tandem compare --quick
  $ tandem compare --workloads cpu,io --size 4 --runs 5 --out ./report
  $ tandem compare --task ./tasks.mjs#resize --input inputs.json

With --task, inputs.json is a JSON array (or a .jsonl file, one per line);
each element is passed to the task as its single argument. The task must be
exported and declared with task(import.meta.url, fn). A .ts module loads under
Node 22.18+, Bun and Deno as it is, on Node 20 under tsx:
tsx node_modules/.bin/tandem compare --task ./tasks.ts#name …`;

const RUN_HELP = `
Each input line is one JSON value, passed to the task as its single
argument. Each output line is {"line": N, "result": …} or, for a failed or
invalid input, {"line": N, "input": …, "error": {name, code, message}}.
Exit code: 0 all succeeded, 1 some failed, 2 usage error, 130 Ctrl-C,
143 SIGTERM, 141 stdout closed by its reader (| head).
Ctrl-C stops reading input, cancels the queued calls and lets the ones
handed to workers finish (twice: stops them); SIGTERM stops them at once. Inputs read but
not finished get error lines with code ERR_TANDEM_CANCELLED, and the summary
on stderr names the last input line read.

Examples:
  $ tandem run ./tasks.mjs#resize --input images.jsonl > results.jsonl
  $ cat urls.jsonl | tandem run ./tasks.mjs#fetchTitle --backend inline --concurrency-per-worker 32 --unordered
  $ node --import tsx node_modules/.bin/tandem run ./tasks.ts#score --input items.jsonl --retries 2 --timeout 5000`;

function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command()
    .name('tandem')
    .description('Multiprocessing and multithreading for Node.js: measure which model fits your work, and run tasks in parallel.')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  const compare = program
    .command('compare')
    .description(
      'measure sequential, async, threads, processes and auto on CPU-bound, I/O-bound and mixed work, and say which wins and why',
    )
    .option('--quick', 'smaller workloads, 3 runs of each model (about 15 s on 2 cores)')
    .option('--runs <n>', 'times each model runs each workload, in rotating order (default: 3 with --quick, else 5)', integer(1))
    .option('--out <dir>', 'folder for compare.html and compare.json (default: a new temp folder)')
    .option('--task <file#export>', 'compare your own task instead of the built-in workloads, e.g. ./tasks.mjs#resize')
    .option('--input <file>', 'inputs of --task: a JSON array, or JSON Lines (.jsonl)')
    .option('--workloads <names>', 'built-in workloads to run, comma-separated: cpu,io,mixed', (v: string) =>
      v.split(',').map((s) => s.trim()),
    );
  const compareSize = sizeOption('workers of each pool');
  const inFlight = new Option('--in-flight <n>', 'calls in flight at once in total, the same budget for every model')
    .argParser(integer(1))
    .default(64);
  compare.addOption(compareSize).addOption(inFlight);
  keepOldName(compare, '--workers', compareSize);
  keepOldName(compare, '--concurrency', inFlight);
  compare
    .addHelpText('after', COMPARE_HELP)
    .action(async (options: CompareOptions) => setExitCode(await compareCommand({ ...options, quick: options.quick === true })));

  const run = program
    .command('run')
    .description('run a task over every input line (JSON Lines) in parallel; one JSON result line per input')
    .argument('<task>', 'the task: path#export, e.g. ./tasks.mjs#resize (exported, declared with task(import.meta.url, fn))')
    .option('--input <file>', 'JSON Lines input file (default: stdin)')
    .addOption(new Option('--backend <kind>', 'where calls run').choices(['auto', 'thread', 'process', 'inline']).default('auto'));
  const runSize = sizeOption('workers in the pool');
  const perWorker = new Option('--concurrency-per-worker <n>', 'calls each worker runs at once (for async tasks)')
    .argParser(integer(1))
    .default(1);
  run
    .addOption(runSize)
    .addOption(perWorker)
    .option('--retries <n>', 'reruns of a failed, crashed or timed-out call', integer(0), 0)
    .option('--timeout <ms>', 'milliseconds a call may run', integer(1))
    .option('--unordered', 'write each result as soon as it is ready, not in input order');
  keepOldName(run, '--workers', runSize);
  keepOldName(run, '--concurrency', perWorker);
  run
    .addHelpText('after', RUN_HELP)
    .action(async (task: string, options: RunOptions) =>
      setExitCode(await runCommand(task, { ...options, unordered: options.unordered === true })),
    );

  // `tandem worker` (the redis backend's host process) lives in its own file.
  registerWorkerCommand(program, setExitCode);

  program.addHelpText(
    'after',
    `
Examples:
  $ tandem compare --quick
  $ tandem run ./tasks.mjs#resize --input images.jsonl
  $ tandem help run`,
  );
  return program;
}

/**
 * A reader that stops early (`tandem --help | head -2`) closes the pipe, and
 * the next write fails with EPIPE. Output nobody reads is not a failure worth
 * a stack trace: the rest is dropped and the command ends as it would have
 * (`run` has its own listener: it stops, and exits 141 as a shell reports a
 * command ended by SIGPIPE). Other write errors stay fatal.
 */
function dropOutputOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
    throw error;
  });
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  dropOutputOnClosedPipe(process.stdout);
  dropOutputOnClosedPipe(process.stderr);
  let exitCode = 0;
  const program = buildProgram((code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end here too, with exit code 0; commander printed the message already.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof TandemError && error.code === 'ERR_TANDEM_CLI_USAGE') {
      process.stderr.write(`tandem: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`tandem: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
