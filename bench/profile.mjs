// CPU profiles of tandem's hot paths (scenarios 1 and 4): runs a scenario job
// under `node --cpu-prof` (workers inherit the flag: threads write one profile
// per thread, child processes one each) and prints the top self-time functions,
// overall and in tandem's own code (dist/), mapped back to src/ through the
// source maps.
//
//   node bench/profile.mjs [job ...]     default: s1:tandem-thread s1:tandem-process
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { SourceMap } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const jobs = process.argv.slice(2).length ? process.argv.slice(2) : ['s1:tandem-thread', 's1:tandem-process'];
const scenarioFile = fileURLToPath(new URL('./scenario.mjs', import.meta.url));
const TOP = Number(process.env.TOP ?? 12);

const maps = new Map();
function sourceOf(url, line, column) {
  if (!url.includes('/dist/')) return '';
  const file = url.startsWith('file:') ? fileURLToPath(url) : url;
  if (!maps.has(file)) {
    let map = null;
    try {
      if (existsSync(`${file}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch {}
    maps.set(file, map);
  }
  const entry = maps.get(file)?.findEntry(line, column);
  if (!entry?.originalSource) return '';
  return `${entry.originalSource.replace(/^.*?\/src\//, 'src/')}:${entry.originalLine + 1}`;
}

function analyse(file) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  // The nearest caller in tandem's own code (dist/), for time spent in Node/V8 natives.
  const ownCaller = (id) => {
    for (let p = parentOf.get(id); p !== undefined; p = parentOf.get(p)) {
      const cf = byId.get(p).callFrame;
      if (cf.url.includes('/dist/'))
        return `${cf.functionName || '(anonymous)'}${
          sourceOf(cf.url, cf.lineNumber, cf.columnNumber) ? ` [${sourceOf(cf.url, cf.lineNumber, cf.columnNumber)}]` : ''
        }`;
    }
    return null;
  };
  const self = new Map(); // node id -> µs
  prof.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const agg = new Map();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber, columnNumber } = byId.get(id).callFrame;
    const short = url ? url.replace(/^file:\/\/.*?\/(dist|bench|node_modules)\//, '$1/') : '';
    const key = `${functionName || '(anonymous)'} ${short}${url ? `:${lineNumber + 1}` : ''}`;
    const a = agg.get(key) ?? { us: 0, url, src: url ? sourceOf(url, lineNumber, columnNumber) : '', callers: new Map() };
    a.us += us;
    if (!url.includes('/dist/')) {
      const c = ownCaller(id);
      if (c) a.callers.set(c, (a.callers.get(c) ?? 0) + us);
    }
    agg.set(key, a);
  }
  const rows = [...agg.entries()].sort((a, b) => b[1].us - a[1].us);
  const idle = rows.filter(([k]) => k.startsWith('(idle)')).reduce((s, [, a]) => s + a.us, 0);
  return { total, idle, rows };
}

for (const job of jobs) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-prof-'));
  const r = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, scenarioFile, job], { encoding: 'utf8' });
  console.log(`\n=== ${job}: ${r.stdout.trim().split('\n').pop()}  (profiles in ${dir})`);
  if (r.status !== 0) console.log(r.stderr);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  const parentPid = Math.min(...files.map((f) => Number(f.split('.')[3])));
  for (const f of files) {
    const [, , , pid, tid] = f.split('.'); // CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile
    const { total, idle, rows } = analyse(path.join(dir, f));
    const busy = total - idle;
    const role =
      Number(pid) === parentPid && tid === '0' ? 'parent main thread' : tid === '0' ? `child process ${pid}` : `thread ${tid} of ${pid}`;
    if (busy < 50_000) {
      console.log(`\n-- ${role}: ${(busy / 1000).toFixed(0)} ms busy (skipped)`);
      continue;
    }
    console.log(`\n-- ${role}: ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms`);
    const line = ([k, a]) => {
      const callers = [...a.callers.entries()].sort((x, y) => y[1] - x[1]).slice(0, 2);
      const via = callers.length
        ? `  <- from tandem: ${callers.map(([c, us]) => `${c} ${((us / a.us) * 100).toFixed(0)}%`).join(', ')}`
        : '';
      return `${((a.us / busy) * 100).toFixed(1).padStart(5)} %  ${(a.us / 1000).toFixed(1).padStart(7)} ms  ${k}${
        a.src ? `  [${a.src}]` : ''
      }${via}`;
    };
    console.log('  top self time, everything (not idle):');
    rows
      .filter(([k]) => !k.startsWith('(idle)'))
      .slice(0, TOP)
      .forEach((row) => {
        console.log(`   ${line(row)}`);
      });
    const own = rows.filter(([, a]) => a.url.includes('/dist/'));
    const ownTotal = own.reduce((s, [, a]) => s + a.us, 0);
    console.log(`  tandem's own code (dist/): ${((ownTotal / busy) * 100).toFixed(1)} % of busy self time`);
    for (const row of own.slice(0, TOP)) console.log(`   ${line(row)}`);
  }
}
