// When the parent process dies, even by SIGKILL, no worker process outlives it,
// even one stuck in a synchronous loop.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { alive, eventually } from '../helpers.js';

const parentScript = fileURLToPath(new URL('../fixtures/orphan-parent.mjs', import.meta.url));

describe('the orphan check (process backend)', () => {
  it('no worker process outlives a parent killed with SIGKILL', { timeout: 60_000 }, async () => {
    const parent = spawn(process.execPath, [parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    let pids: number[] = [];
    try {
      pids = await new Promise<number[]>((resolve, reject) => {
        let output = '';
        parent.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('\n')) resolve(JSON.parse(output.split('\n')[0]) as number[]);
        });
        parent.once('exit', (code, signal) => reject(new Error(`the parent exited early (${code ?? signal})`)));
        setTimeout(() => reject(new Error('the parent did not report its workers within 30 s')), 30_000).unref();
      });
      expect(pids).toHaveLength(2);
      expect(pids.every(alive)).toBe(true);
      parent.kill('SIGKILL');
      await eventually(() => !pids.some(alive), 'the worker processes to exit', 15_000);
    } finally {
      // Whatever happened, leave nothing behind.
      parent.kill('SIGKILL');
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
