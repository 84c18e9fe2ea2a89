// What a user sees of the API besides its behaviour: the published
// declarations (no internal members; they check on their own, skipLibCheck
// off), how a future prints, and doc comments that sit on their own
// declaration. The API reference itself is built and validated by
// `npm run docs` (TypeDoc), a step of .ci/run.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { inspect } from 'node:util';
import { Pool } from 'tandem';
import { describe, expect, it } from 'vitest';
import { DEADLINE_MS, root, typecheck } from './helpers.js';
const DECLARATIONS = ['dist/esm/index.d.ts', 'dist/cjs/index.d.cts'];

/** Members tagged @internal in src/, which `stripInternal` must keep out of the published types. */
const INTERNAL_MEMBERS = [
  'job',
  'settleFulfilled',
  'settleRejected',
  'settleCancelled',
  'markRunning',
  'markPending',
  'rebind',
  'words',
  'stateIndex',
  'idIndex',
  'releaseAll',
  'restoreDepth',
  'setBound',
  'fromShared',
];
const INTERNAL_TYPES = ['FutureOwner', 'TrackedLock'];

describe('published declarations', () => {
  it.each(DECLARATIONS)('%s declares no internal member', (file) => {
    const text = readFileSync(join(root, file), 'utf8');
    for (const name of INTERNAL_MEMBERS) {
      expect(text, name).not.toMatch(new RegExp(`^\\s+(?:(?:readonly|static|protected|get|set)\\s+)*${name}\\s*[(:<?]`, 'm'));
    }
    for (const name of INTERNAL_TYPES) expect(text, name).not.toMatch(new RegExp(`\\b${name}\\b`));
  });

  it(
    'type-check on their own, with skipLibCheck off',
    async () => {
      await typecheck(DECLARATIONS, root);
    },
    DEADLINE_MS,
  );
});

describe('console.log(future)', () => {
  it('shows the id and state of the future, not the pool record of its call', async () => {
    const pool = new Pool({ backend: 'inline', size: 1 });
    try {
      const future = pool.submit((x: number) => x * 2, [21]);
      expect(inspect(future)).toMatch(new RegExp(`^Future \\{ id: ${future.id}, state: '(pending|running)' \\}$`));
      await future;
      expect(inspect(future)).toBe(`Future { id: ${future.id}, state: 'fulfilled' }`);
      // Nested and coloured, as console.log shows it inside an object.
      expect(inspect({ f: future })).toBe(`{ f: Future { id: ${future.id}, state: 'fulfilled' } }`);
      expect(inspect(future, { colors: true })).toContain('\u001b[');
      expect(inspect(future, { depth: 5 })).not.toMatch(/Job|payload|owner/);
    } finally {
      await pool.terminate();
    }
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('doc comments', () => {
  it('no doc comment is orphaned by another right below it (the one below would be the only one shown)', () => {
    const orphans: string[] = [];
    for (const file of sourceFiles(join(root, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/\/\*\*(?:(?!\*\/)[\s\S])*\*\/[ \t]*\n[ \t]*\/\*\*/g)) {
        orphans.push(`${relative(root, file)}:${text.slice(0, match.index).split('\n').length}`);
      }
    }
    expect(orphans).toEqual([]);
  });
});
