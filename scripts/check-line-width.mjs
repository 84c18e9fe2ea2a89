// Fails on any line longer than biome.jsonc's formatter.lineWidth in the files Biome
// covers. Biome's formatter keeps code within the width, but it cannot break a long
// string or comment and no Biome rule reports one; those are broken by hand.
//
// Usage: node scripts/check-line-width.mjs   (exits 1 and lists them when it finds any)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// biome.jsonc has comments: TypeScript's JSON reader takes them.
const { config, error } = ts.parseConfigFileTextToJson('biome.jsonc', readFileSync(`${root}/biome.jsonc`, 'utf8'));
if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
const width = config.formatter.lineWidth;

// Biome's globs as git pathspecs ("!x" excludes), over tracked and new untracked files.
const pathspecs = config.files.includes.map((glob) => (glob.startsWith('!') ? `:(exclude,glob)${glob.slice(1)}` : `:(glob)${glob}`));
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z', '--', ...pathspecs], {
  cwd: root,
  encoding: 'utf8',
})
  .split('\0')
  .filter((file) => file !== '' && existsSync(`${root}/${file}`));

const found = [];
for (const file of new Set(files)) {
  readFileSync(`${root}/${file}`, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const length = [...line.replaceAll('\t', ' '.repeat(config.formatter.indentWidth))].length;
      if (length > width) found.push(`${file}:${i + 1}  ${length} characters`);
    });
}

if (found.length > 0) {
  console.error(`${found.length} line(s) over ${width} characters (biome.jsonc formatter.lineWidth); break them by hand:`);
  for (const line of found) console.error(`  ${line}`);
  process.exit(1);
}
