// What `npm install tandem` costs a fresh project: packages, size on disk and
// install time, measured on the tarball `npm pack` makes (or on the tarballs
// given, e.g. one packed from an older commit, to compare).
//
//   npm run build && node bench/install.mjs [tandem-a.tgz tandem-b.tgz …]
//
// Each tarball is installed into a fresh project once to fill npm's cache, then
// RUNS more times from scratch (node_modules and lock file removed): the times
// are warm-cache installs, and the median is reported. Not a test: nothing
// here asserts on speed.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.RUNS ?? 5);
const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tandem-install-'));
const quiet = { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' };

let tarballs = process.argv.slice(2).map((t) => resolve(t));
if (tarballs.length === 0) {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { ...quiet, cwd: root }),
  );
  tarballs = [join(scratch, packed[0].filename)];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  console.log(`| tarball | packages | node_modules on disk (du) | apparent size | npm install, warm cache (median of ${RUNS}) |`);
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const tarball of tarballs) {
    const project = mkdtempSync(join(scratch, 'project-'));
    const times = [];
    for (let run = 0; run <= RUNS; run++) {
      rmSync(join(project, 'node_modules'), { recursive: true, force: true });
      rmSync(join(project, 'package-lock.json'), { force: true });
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
      copyFileSync(tarball, join(project, 'tandem.tgz'));
      const start = performance.now();
      execFileSync('npm', ['install', '--no-audit', '--no-fund', './tandem.tgz'], { ...quiet, cwd: project });
      // The first run fills the cache: only the others are timed.
      if (run > 0) times.push(performance.now() - start);
    }
    // `npm ls --parseable` lists the project itself first: every other line is an installed package.
    const packages =
      execFileSync('npm', ['ls', '--all', '--parseable'], { ...quiet, cwd: project })
        .trim()
        .split('\n').length - 1;
    const du = (...flags) => execFileSync('du', ['-sh', ...flags, join(project, 'node_modules')], quiet).split('\t')[0];
    console.log(`| ${basename(tarball)} | ${packages} | ${du()} | ${du('--apparent-size')} | ${(median(times) / 1000).toFixed(1)} s |`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
