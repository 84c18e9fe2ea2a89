// Shared by the tests of the package as users get it: commands run to the end
// with a deadline, and the type-check a user's strict TypeScript project does.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const DEADLINE_MS = 240_000;

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (or the deadline) and resolves with its exit code and output. */
export function run(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env ?? { ...process.env, NODE_OPTIONS: '' }, timeout: DEADLINE_MS, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Like run(), but throws with the output unless the command exits 0. */
export async function ok(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  const ran = await run(file, args, options);
  if (ran.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${ran.code}:\n${ran.stdout}\n${ran.stderr}`);
  return ran;
}

/** Type-checks `files` as a strict user project does, declarations of libraries included (skipLibCheck off). */
export function typecheck(files: string[], cwd: string): Promise<Ran> {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const flags = [
    '--noEmit',
    '--strict',
    '--skipLibCheck',
    'false',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--target',
    'es2022',
    '--lib',
    'es2023,esnext.disposable',
    '--types',
    'node',
  ];
  return ok(process.execPath, [tsc, ...flags, ...files], { cwd });
}
