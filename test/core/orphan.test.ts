import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventually } from './helpers.js';

const parentScript = fileURLToPath(new URL('./fixtures/orphan-parent.mjs', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the orphan check', () => {
  it('no worker process outlives a parent killed with SIGKILL', { timeout: 60_000 }, async () => {
    const parent = spawn(process.execPath, [parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    // Whatever happens in this test, the parent does not outlive it.
    setTimeout(() => parent.kill('SIGKILL'), 45_000).unref();
    let output = '';
    const pids = await new Promise<number[]>((resolve, reject) => {
      parent.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('\n')) resolve(JSON.parse(output.split('\n')[0]!) as number[]);
      });
      parent.once('exit', (code) => reject(new Error(`parent exited early with ${code}`)));
    }).catch((error: unknown) => {
      parent.kill('SIGKILL');
      throw error;
    });
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    parent.kill('SIGKILL');
    try {
      await eventually(() => !pids.some(alive), 'the worker processes to exit', 15_000);
    } finally {
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
