// The README as a user meets it on npm: every ```js and ```ts block works as
// written, and every link leads somewhere.
//
// Each block goes into a folder of its own in a fresh project where 'tandem'
// is this package (built) and @types/node is installed, as the README asks. A
// block holding several files marks each with a `// name.ts` line. JavaScript
// blocks are whole programs: they run with node. TypeScript blocks are
// type-checked together, strict; the names their fragments take from the text
// around them (a `pool`, a `fib`…) are declared in GLOBALS. A TypeScript
// block whose main.ts imports tandem itself is a whole program too: it runs
// under tsx. A console.log whose comment starts with a number prints it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../helpers.js';
import { DEADLINE_MS, ok, root, typecheck } from './helpers.js';

const README = readFileSync(join(root, 'README.md'), 'utf8');
const REPOSITORY = 'https://github.com/tandem-js/tandem/blob/main/';

const GLOBALS = `import type { Future, Pool } from 'tandem';
declare global {
  const pool: Pool;
  const signal: AbortSignal;
  const futures: Future<number>[];
  const files: string[];
  const urls: string[];
  function fib(n: number): number;
  function add(a: number, b: number): number;
  function numbers(): AsyncIterable<number>;
  function resize(file: string): Promise<Uint8Array>;
  function resizeImage(file: string): Promise<Uint8Array>;
  function fetchPage(url: string): Promise<string>;
}
export {};
`;

interface Block {
  lang: 'js' | 'ts';
  /** 1-based line of the opening fence, to name the block in failures. */
  line: number;
  files: { name: string; text: string }[];
}

function blocks(): Block[] {
  const found: Block[] = [];
  for (const match of README.matchAll(/^```(js|ts)\n([\s\S]*?)^```$/gm)) {
    const lang = match[1] as 'js' | 'ts';
    const line = README.slice(0, match.index).split('\n').length;
    const files: { name: string; text: string }[] = [];
    let current = { name: `block.${lang === 'js' ? 'mjs' : 'ts'}`, text: '' };
    for (const text of match[2].replace(/\n$/, '').split('\n')) {
      const header = /^\/\/ ([\w-]+\.(?:ts|mts|js|mjs))\b/.exec(text);
      if (header && current.text.trim() !== '') files.push(current);
      if (header) current = { name: header[1], text: '' };
      current.text += `${text}\n`;
    }
    files.push(current);
    found.push({ lang, line, files });
  }
  return found;
}

/** Numbers the README says a program prints: `console.log(…); // 832040, …`. */
function promisedOutput(text: string): string[] {
  return [...text.matchAll(/console\.log\(.*\);\s*\/\/\s*(-?\d[\d.]*)\b/g)].map((m) => m[1]);
}

let project = '';
const all = blocks();

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'tandem-readme-'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'readme', private: true, type: 'module' }));
  mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
  symlinkSync(root, join(project, 'node_modules', 'tandem'), 'dir');
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'), 'dir');
  symlinkSync(join(root, 'node_modules', 'tsx'), join(project, 'node_modules', 'tsx'), 'dir');
  writeFileSync(join(project, 'globals.d.ts'), GLOBALS);
  for (const block of all) {
    const dir = join(project, `line-${block.line}`);
    mkdirSync(dir);
    // `export {}` makes every file a module, so its names never clash with GLOBALS.
    for (const file of block.files) writeFileSync(join(dir, file.name), block.lang === 'ts' ? `${file.text}export {};\n` : file.text);
  }
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('README code blocks', () => {
  it('there are JavaScript and TypeScript blocks to check', () => {
    expect(all.filter((b) => b.lang === 'js').length).toBeGreaterThan(0);
    expect(all.filter((b) => b.lang === 'ts').length).toBeGreaterThan(3);
  });

  it('the first block is examples/quickstart.mjs, word for word', () => {
    expect(all[0].files[0].text).toBe(readFileSync(join(root, 'examples', 'quickstart.mjs'), 'utf8'));
  });

  it(
    'every TypeScript block type-checks (strict, with @types/node)',
    async () => {
      const files = all.filter((b) => b.lang === 'ts').flatMap((b) => b.files.map((f) => join(`line-${b.line}`, f.name)));
      await typecheck(['globals.d.ts', ...files], project);
    },
    DEADLINE_MS,
  );

  const programs = all.filter((b) => b.lang === 'js' || b.files.some((f) => f.name === 'main.ts' && /from 'tandem'/.test(f.text)));
  it.each(programs.map((b) => [b.line, b] as const))(
    'the program at line %i runs and prints what it says',
    async (line, block) => {
      const main = block.lang === 'js' ? block.files[0].name : 'main.ts';
      // TypeScript under tsx on Node; Bun runs it as it is; Deno maps ./tasks.js to tasks.ts with --sloppy-imports.
      const typescript = { node: ['--import', 'tsx'], bun: [], deno: ['run', '-A', '--sloppy-imports'] }[runtime];
      const args = block.lang === 'js' ? [main] : [...typescript, main];
      const ran = await ok(process.execPath, args, { cwd: join(project, `line-${line}`) });
      const printed = ran.stdout.split('\n');
      for (const value of promisedOutput(block.files.map((f) => f.text).join('\n'))) {
        expect(
          printed.some((l) => l === value || l.startsWith(`${value} `)),
          `prints ${value}`,
        ).toBe(true);
      }
    },
    DEADLINE_MS,
  );
});

describe('README links', () => {
  const links = [...README.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);

  it('are absolute (npm shows the README without the repository around it) or anchors', () => {
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter((l) => !/^https?:\/\//.test(l) && !l.startsWith('#'))).toEqual([]);
  });

  it("lead to files that exist, when they point into tandem's repository", () => {
    const missing = links
      .filter((l) => l.startsWith(REPOSITORY))
      .filter((l) => !existsSync(join(root, l.slice(REPOSITORY.length).split('#')[0])));
    expect(missing).toEqual([]);
  });

  it('that are anchors name a heading', () => {
    const slug = (heading: string): string =>
      heading
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s-]/gu, '')
        .trim()
        .replace(/\s/g, '-');
    const anchors = new Set([...README.matchAll(/^#+ (.+)$/gm)].map((m) => `#${slug(m[1])}`));
    expect(links.filter((l) => l.startsWith('#') && !anchors.has(l))).toEqual([]);
  });

  it('package.json names the repository, homepage and issue tracker the links use', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      repository?: { url?: string };
      homepage?: string;
      bugs?: { url?: string };
    };
    const repo = REPOSITORY.replace(/\/blob\/main\/$/, '');
    expect(pkg.repository?.url).toBe(`git+${repo}.git`);
    expect(pkg.homepage).toBe(`${repo}#readme`);
    expect(pkg.bugs?.url).toBe(`${repo}/issues`);
  });
});
