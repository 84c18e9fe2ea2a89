// Fails on every non-null assertion (`value!`) whose operand cannot be null or
// undefined: it does nothing, and it hides the `!`s that matter. Biome flags every
// `!` (style/noNonNullAssertion, off in biome.jsonc) or, with its own type inference,
// too few of them; only TypeScript's checker knows what `heap[i]` or `child.stdout`
// is here, so this asks it, over the same files `npm run typecheck` checks.
//
// Usage: node scripts/check-non-null.mjs   (exits 1 and lists them when it finds any)
//        node scripts/check-non-null.mjs --fix   (removes them instead)
import { writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

function parse(configPath) {
  const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail(d) };
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, host);
  if (config.errors.length > 0) fail(config.errors[0]);
  return config;
}

function fail(diagnostic) {
  console.error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  process.exit(2);
}

// One program over both projects: the test one extends the root one and only adds
// what tests need, so a type in src/ reads the same under either. Tests import the
// built package as 'tandem'; here it is its source, so that no build is needed.
const library = parse(`${root}/tsconfig.json`);
const tests = parse(`${root}/test/tsconfig.json`);
const options = { ...tests.options, paths: { tandem: [`${root}/src/index.ts`] } };
const program = ts.createProgram([...new Set([...library.fileNames, ...tests.fileNames])], options);
const checker = program.getTypeChecker();

const MAYBE_NULL = ts.TypeFlags.Null | ts.TypeFlags.Undefined | ts.TypeFlags.Void | ts.TypeFlags.Any | ts.TypeFlags.Unknown;

function mayBeNull(type) {
  if (type.isUnion()) return type.types.some(mayBeNull);
  if (type.flags & MAYBE_NULL) return true;
  // A type parameter (or `T[K]`) is as nullable as its constraint; an unconstrained one may be anything.
  if (type.flags & ts.TypeFlags.Instantiable) {
    const constraint = checker.getBaseConstraintOfType(type);
    return constraint === undefined || constraint === type || mayBeNull(constraint);
  }
  return false;
}

const fix = process.argv.includes('--fix');
const found = [];
for (const file of program.getSourceFiles()) {
  if (file.isDeclarationFile || file.fileName.includes('/node_modules/') || !file.fileName.startsWith(root)) continue;
  const bangs = []; // offsets of the useless `!`s: a non-null expression ends with its `!`
  const visit = (node) => {
    if (ts.isNonNullExpression(node) && !mayBeNull(checker.getTypeAtLocation(node.expression))) {
      const { line, character } = file.getLineAndCharacterOfPosition(node.getStart(file));
      const type = checker.typeToString(checker.getTypeAtLocation(node.expression));
      found.push(`${relative(root, file.fileName)}:${line + 1}:${character + 1}  ${node.getText(file)}  (already ${type})`);
      bangs.push(node.getEnd() - 1);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  if (fix && bangs.length > 0) {
    let text = file.text;
    for (const at of bangs.sort((a, b) => b - a)) text = text.slice(0, at) + text.slice(at + 1);
    writeFileSync(file.fileName, text);
  }
}

if (fix) {
  console.log(`removed ${found.length} non-null assertion(s) that did nothing`);
} else if (found.length > 0) {
  console.error(`${found.length} non-null assertion(s) on a value that cannot be null or undefined; remove the \`!\`:`);
  for (const line of found) console.error(`  ${line}`);
  process.exit(1);
}
