// What a user gets from `npm install tandem`: the package as `npm pack` makes
// it, installed into a fresh project that has neither bullmq nor ioredis (they
// are optional peer dependencies). Real npm, real child processes: the local
// backends run from ESM and CommonJS, the types check without the Redis
// packages, and `backend: 'redis'` and `tandem worker` fail with the command
// that installs them.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_PACKAGES } from '../../src/redis/connect.js';
import { DEADLINE_MS, ok as okIn, root, run as runIn, typecheck } from './helpers.js';

/**
 * npm config that tells where the user's cache and registry are; the rest of npm's `npm test`
 * environment (its local prefix above all) must not reach the inner npm.
 */
const KEEP = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_cafile', 'npm_config_userconfig', 'npm_config_globalconfig']);
const env = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_') || KEEP.has(key.toLowerCase())),
);
env.NODE_OPTIONS = '';

const run = (file: string, args: string[], cwd: string) => runIn(file, args, { cwd, env });
const ok = (file: string, args: string[], cwd: string) => okIn(file, args, { cwd, env });

const TASKS_MJS = `import { task } from 'tandem';
export const double = task(import.meta.url, (x) => x * 2);
`;

const TASKS_CJS = `const { task } = require('tandem');
exports.double = task(__filename, (x) => x * 2);
`;

const REDIS_ATTEMPT = `
  try {
    new Pool({ backend: 'redis', redis: 'redis://127.0.0.1:6379', queue: 'q' });
    out.redis = 'no error';
  } catch (e) {
    out.redis = { code: e.code, isClass: e instanceof MissingDependencyError, packages: e.packages, installCommand: e.installCommand };
  }
  console.log(JSON.stringify(out));
`;

const MAIN_MJS = `import { Pool, MissingDependencyError } from 'tandem';
import { double } from './tasks.mjs';
const out = {};
for (const backend of ['thread', 'process', 'inline', 'auto']) {
  const pool = new Pool({ backend, size: 2 });
  try { out[backend] = await pool.map(double, [1, 2, 3]); } finally { await pool.close(); }
}
${REDIS_ATTEMPT}`;

const MAIN_CJS = `const { Pool, MissingDependencyError } = require('tandem');
const { double } = require('./tasks.cjs');
(async () => {
  const out = {};
  for (const backend of ['thread', 'process']) {
    const pool = new Pool({ backend, size: 2 });
    try { out[backend] = await pool.map(double, [1, 2, 3]); } finally { await pool.close(); }
  }
  ${REDIS_ATTEMPT}
})();
`;

// Declarations that named bullmq or ioredis would fail here: they are not installed.
const MAIN_TS = `import { Pool, MissingDependencyError, runWorker, type Future, type PoolOptions } from 'tandem';
const options: PoolOptions = { backend: 'redis', redis: 'redis://127.0.0.1:6379', queue: 'q' };
const f: Future<number> | null = null;
const e: MissingDependencyError | null = null;
export { options, f, e, Pool, runWorker };
`;

let project = '';
let packDir = '';
const expected = [2, 4, 6];
const INSTALL = `npm install ${REDIS_PACKAGES.map((p) => `${p.name}@${p.version}`).join(' ')}`;

beforeAll(async () => {
  packDir = mkdtempSync(join(tmpdir(), 'tandem-pack-'));
  project = mkdtempSync(join(tmpdir(), 'tandem-lean-'));
  const packed = await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], root);
  const tarball = join(packDir, (JSON.parse(packed.stdout) as { filename: string }[])[0].filename);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'lean-app', version: '1.0.0', private: true }));
  await ok('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project);
  writeFileSync(join(project, 'tasks.mjs'), TASKS_MJS);
  writeFileSync(join(project, 'tasks.cjs'), TASKS_CJS);
  writeFileSync(join(project, 'main.mjs'), MAIN_MJS);
  writeFileSync(join(project, 'main.cjs'), MAIN_CJS);
  writeFileSync(join(project, 'main.ts'), MAIN_TS);
}, DEADLINE_MS);

afterAll(() => {
  for (const dir of [project, packDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every package directory under node_modules (scoped ones included). */
function installedPackages(dir: string): string[] {
  const found: string[] = [];
  const walk = (modules: string): void => {
    if (!existsSync(modules)) return;
    for (const name of readdirSync(modules)) {
      if (name.startsWith('.')) continue;
      if (name.startsWith('@')) {
        for (const scoped of readdirSync(join(modules, name))) visit(join(modules, name, scoped));
      } else visit(join(modules, name));
    }
  };
  const visit = (pkg: string): void => {
    if (!existsSync(join(pkg, 'package.json'))) return;
    found.push(pkg);
    walk(join(pkg, 'node_modules'));
  };
  walk(join(dir, 'node_modules'));
  return found;
}

describe('a project that depends only on tandem', () => {
  it('installs without bullmq, ioredis, or any package with an install script', () => {
    const packages = installedPackages(project);
    const names = packages.map((p) => (JSON.parse(readFileSync(join(p, 'package.json'), 'utf8')) as { name: string }).name);
    expect(names).toContain('tandem');
    for (const heavy of ['bullmq', 'ioredis', 'msgpackr', 'msgpackr-extract']) expect(names).not.toContain(heavy);
    const withScripts = packages.filter((p) => {
      const scripts = (JSON.parse(readFileSync(join(p, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
      return ['preinstall', 'install', 'postinstall'].some((s) => s in scripts);
    });
    expect(withScripts).toEqual([]);
  });

  it(
    'runs thread, process, inline and auto pools from ESM; backend: redis throws MissingDependencyError with the install command',
    async () => {
      const ran = await ok(process.execPath, ['main.mjs'], project);
      const out = JSON.parse(ran.stdout) as Record<string, unknown>;
      for (const backend of ['thread', 'process', 'inline', 'auto']) expect(out[backend]).toEqual(expected);
      expect(out.redis).toEqual({
        code: 'ERR_TANDEM_MISSING_DEPENDENCY',
        isClass: true,
        packages: ['bullmq', 'ioredis'],
        installCommand: INSTALL,
      });
    },
    DEADLINE_MS,
  );

  it(
    'runs thread and process pools from CommonJS; backend: redis throws the same error',
    async () => {
      const ran = await ok(process.execPath, ['main.cjs'], project);
      const out = JSON.parse(ran.stdout) as Record<string, unknown>;
      expect(out.thread).toEqual(expected);
      expect(out.process).toEqual(expected);
      expect(out.redis).toMatchObject({ code: 'ERR_TANDEM_MISSING_DEPENDENCY', isClass: true });
    },
    DEADLINE_MS,
  );

  it(
    '`tandem worker` (and its standalone entry) exits 1 and prints the install command',
    async () => {
      const args = ['worker', '--redis', 'redis://127.0.0.1:6379', '--queue', 'q', '--tasks', './tasks.mjs'];
      const bin = await run(join(project, 'node_modules', '.bin', 'tandem'), args, project);
      expect(bin.code).toBe(1);
      expect(bin.stderr).toContain(INSTALL);
      const main = await run(
        process.execPath,
        [join(project, 'node_modules', 'tandem', 'dist', 'esm', 'redis', 'worker-main.js'), ...args.slice(1)],
        project,
      );
      expect(main.code).toBe(1);
      expect(main.stderr).toContain(INSTALL);
    },
    DEADLINE_MS,
  );

  it(
    "type-checks against tandem's declarations with bullmq and ioredis absent (skipLibCheck off)",
    async () => {
      // The user's own @types/node, as the README asks TypeScript users to install.
      mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
      symlinkSync(join(root, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'), 'dir');
      await typecheck(['main.ts'], project);
    },
    DEADLINE_MS,
  );
});

it('the error names the major versions that package.json allows as peers', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
    dependencies: Record<string, string>;
  };
  expect(Object.keys(pkg.peerDependencies).sort()).toEqual(REDIS_PACKAGES.map((p) => p.name).sort());
  for (const { name, version } of REDIS_PACKAGES) {
    expect(pkg.peerDependencies[name]).toMatch(new RegExp(`^\\^${version}\\.`));
    expect(pkg.peerDependenciesMeta[name]?.optional).toBe(true);
    expect(pkg.dependencies[name]).toBeUndefined();
  }
});
