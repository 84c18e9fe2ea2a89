// Runs a fixture script in a child Node process, as a user runs a program, for
// behaviour seen only from outside: how the process exits and what it prints.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ScriptRun {
  /** Exit code; null if the process was killed (for example at the deadline). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `test/fixtures/<name>` with `args`; kills it at `deadlineMs` (a deadline, never a speed assertion). */
export function runScript(name: string, args: string[] = [], deadlineMs = 30_000): Promise<ScriptRun> {
  const script = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [script, ...args],
      { timeout: deadlineMs, killSignal: 'SIGKILL' },
      (_error, stdout, stderr) => {
        resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr });
      },
    );
  });
}
