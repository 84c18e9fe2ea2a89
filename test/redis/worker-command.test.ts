// `tandem worker` as a command: commander wiring (registerWorkerCommand) and the
// standalone entry (src/redis/worker-main.ts). Needs no Redis: it checks usage
// errors and the exit on an unreachable server.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerWorkerCommand } from '../../src/cli/worker-command.js';
import { BUILT_WORKER, TASKS, freePort } from './harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; output: string }> {
  // The built entry where there is one (as `npm test` builds first): Bun and Deno ignore tsx's --import.
  const entry = existsSync(BUILT_WORKER) ? [BUILT_WORKER] : ['--import', 'tsx', 'src/redis/worker-main.ts'];
  const child = spawn(process.execPath, [...entry, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (data) => (output += data));
  child.stderr.on('data', (data) => (output += data));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

describe('tandem worker command', () => {
  it('registerWorkerCommand: an unreachable Redis exits 1 with a clear message', async () => {
    let exitCode = -1;
    const program = new Command().exitOverride();
    registerWorkerCommand(program, (code) => (exitCode = code));
    const url = `redis://127.0.0.1:${await freePort()}`;
    await program.parseAsync(['worker', '--redis', url, '--queue', 'q', '--tasks', TASKS], { from: 'user' });
    expect(exitCode).toBe(1);
  });

  it('worker-main: a usage error exits 2, an unreachable Redis exits 1', async () => {
    const usage = await run(['--queue', 'q']);
    expect(usage.code).toBe(2);
    expect(usage.output).toContain('usage: tandem worker');
    // --concurrency is the old name of --in-flight: both at once is a usage error.
    const both = await run(['--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--tasks', TASKS, '--concurrency', '2', '--in-flight', '2']);
    expect(both.code).toBe(2);
    const url = `redis://127.0.0.1:${await freePort()}`;
    const unreachable = await run(['--redis', url, '--queue', 'q', '--tasks', TASKS]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.output).toContain('cannot reach Redis');
    // The same names as the command: --in-flight, and the old --concurrency with a notice.
    const inFlight = await run(['--redis', url, '--queue', 'q', '--tasks', TASKS, '--in-flight', '2']);
    expect(inFlight.code).toBe(1);
    const old = await run(['--redis', url, '--queue', 'q', '--tasks', TASKS, '--concurrency', '2']);
    expect(old.code).toBe(1);
    expect(old.output).toMatch(/--concurrency is deprecated.*--in-flight/);
  });

  it('a task module that starts a Pool at its top level stops the host at start with UnguardedPoolError', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    // The module's unguarded `new Pool()` would run the app's main job on the host: it fails while loading,
    // before the host connects to Redis.
    const unguarded = fileURLToPath(new URL('../fixtures/unguarded-pool.mjs', import.meta.url));
    const started = await run(['--redis', url, '--queue', 'q', '--tasks', unguarded]);
    expect(started.code).toBe(1);
    // What the host prints is the error's message, which names the module and the fix.
    expect(started.output).toContain('unguarded-pool.mjs started a Pool');
    expect(started.output).toContain('isWorker()');
    expect(started.output).not.toContain('cannot reach Redis');
  });
});
