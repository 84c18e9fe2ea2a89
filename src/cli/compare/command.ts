import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CliUsageError } from '../../errors.js';
import { type StepProgress, stepProgress } from '../progress.js';
import { loadTaskReference } from '../task-ref.js';
import { builtInWorkloads, type Workload } from '../workloads.js';
import { formatMs } from './format.js';
import { renderHtml } from './html.js';
import { MODELS, type ModelName, type ModelRun, measureModel, terminateActivePools, type RunSettings } from './measure.js';
import { coreAvailability } from './resources.js';
import { newReport, type WorkloadReport } from './report.js';
import { fillSpeedups, median, roundOrder, summarise } from './runs.js';
import { renderTable } from './table.js';
import { verdict } from './verdict.js';

/**
 * `tandem compare`: runs each workload under every execution model, one after
 * another (never two at once, so they do not compete for the cores), several
 * times in rotating order (runs.ts), then prints the table and writes
 * compare.json and compare.html.
 */

export interface CompareOptions {
  quick: boolean;
  /** Runs of each model per workload; by default QUICK_RUNS with --quick, else FULL_RUNS. */
  runs?: number;
  out?: string;
  task?: string;
  input?: string;
  workloads?: string[];
  size: number;
  inFlight: number;
}

// Three runs are the fewest that have a median and a spread; five make a clear
// verdict much less likely to be luck (see certainty() in verdict.ts).
const QUICK_RUNS = 3;
const FULL_RUNS = 5;

/** Inputs of a user's task: a JSON array, or JSON Lines for a .jsonl/.ndjson file. */
function readInputs(path: string): unknown[] {
  if (!existsSync(path) || !statSync(path).isFile()) throw new CliUsageError(`input file ${path} does not exist or is not a file`);
  const text = readFileSync(path, 'utf8');
  if (/\.(jsonl|ndjson)$/i.test(path)) {
    const inputs: unknown[] = [];
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        inputs.push(JSON.parse(line));
      } catch (error) {
        throw new CliUsageError(`${path} line ${i + 1} is not valid JSON: ${(error as Error).message}`);
      }
    });
    return inputs;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CliUsageError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new CliUsageError(`${path} must hold a non-empty JSON array of inputs (each is passed to the task as its one argument)`);
  }
  return parsed;
}

async function userWorkload(reference: string, inputPath: string): Promise<Workload> {
  const loaded = await loadTaskReference(reference);
  const inputs = readInputs(resolve(inputPath));
  return {
    name: loaded.exportName,
    title: 'your task',
    description: `${reference} over ${inputs.length} inputs from ${inputPath}`,
    batches: [{ label: loaded.exportName, task: loaded.fn, inputs }],
  };
}

async function selectWorkloads(options: CompareOptions, dataDir: string): Promise<Workload[]> {
  if (options.task !== undefined || options.input !== undefined) {
    if (options.task === undefined || options.input === undefined) {
      throw new CliUsageError('--task and --input go together: --task ./tasks.mjs#name --input inputs.json');
    }
    return [await userWorkload(options.task, options.input)];
  }
  const all = await builtInWorkloads(options.quick, dataDir);
  if (options.workloads === undefined) return all;
  const unknown = options.workloads.filter((name) => !all.some((w) => w.name === name));
  if (unknown.length > 0) {
    throw new CliUsageError(`unknown workload ${unknown.join(', ')}: choose among ${all.map((w) => w.name).join(', ')}`);
  }
  return all.filter((w) => options.workloads!.includes(w.name));
}

export async function compareCommand(options: CompareOptions): Promise<number> {
  const settings: RunSettings = {
    size: options.size,
    inFlight: options.inFlight,
    runs: options.runs ?? (options.quick ? QUICK_RUNS : FULL_RUNS),
  };
  // A given --out folder is made first, so that a bad one fails before minutes of measuring.
  const givenOut = options.out === undefined ? null : resolve(options.out);
  if (givenOut !== null) {
    try {
      mkdirSync(givenOut, { recursive: true });
    } catch (error) {
      throw new CliUsageError(`cannot use ${givenOut} as the --out folder: ${(error as Error).message}`, { cause: error });
    }
  }
  // The I/O workload's files: written here, removed whatever happens (Ctrl-C included).
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-compare-data-'));
  const removeData = (): void => rmSync(dataDir, { recursive: true, force: true });
  let progress: StepProgress | null = null;
  const onSigint = (): void => {
    progress?.note('tandem compare: interrupted');
    progress?.stop();
    if (progress === null) process.stderr.write('tandem compare: interrupted\n');
    // Stop the workers now rather than leave them to notice that their parent is gone.
    void terminateActivePools().finally(() => {
      removeData();
      process.exit(130);
    });
  };
  process.once('SIGINT', onSigint);
  try {
    const workloads = await selectWorkloads(options, dataDir);
    const report = newReport(settings, options.quick);
    const steps = stepProgress(workloads.length * MODELS.length * settings.runs);
    progress = steps;
    // (A model that fails is not run again, and ends the bar short of its total.)
    for (const workload of workloads) {
      // Measured before each sequential run, whose CPU share it corrects (verdict.ts):
      // one short sample on a busy machine is as noisy as one run.
      const availability: number[] = [];
      const runs = new Map<ModelName, ModelRun[]>(MODELS.map((m) => [m.name, []]));
      const failed = new Set<ModelName>();
      for (let round = 0; round < settings.runs; round++) {
        for (const model of roundOrder(MODELS, round)) {
          if (failed.has(model.name)) continue;
          const step = `${workload.name} · ${model.label} · run ${round + 1}/${settings.runs}`;
          steps.begin(step);
          if (model.name === 'sequential') availability.push(coreAvailability(100));
          const run = await measureModel(model.name, workload, settings);
          steps.end(step, run.error === null ? formatMs(run.wallMs) : `failed: ${run.error}`);
          runs.get(model.name)!.push(run);
          if (run.error !== null) failed.add(model.name);
          // A task that fails on its own will fail everywhere: do not make the user wait for more failures.
          if (failed.has('sequential')) break;
        }
        if (failed.has('sequential')) break;
      }
      const results = MODELS.filter((m) => runs.get(m.name)!.length > 0).map((m) => summarise(runs.get(m.name)!));
      fillSpeedups(results);
      const available = median(availability);
      const entry: WorkloadReport = {
        name: workload.name,
        title: workload.title,
        description: workload.description,
        calls: workload.batches.reduce((n, b) => n + b.inputs.length, 0),
        coreAvailability: available,
        results,
        // The load before compare started is other programs' alone; later it includes our own workers.
        verdict: verdict(results, { cores: availableParallelism(), load: report.machine.loadAverageBefore, coreAvailability: available }),
      };
      report.workloads.push(entry);
    }
    steps.stop();
    report.machine.loadAverageAfter = loadavg()[0];
    const outDir = givenOut ?? mkdtempSync(join(tmpdir(), 'tandem-compare-'));
    const jsonPath = join(outDir, 'compare.json');
    const htmlPath = join(outDir, 'compare.html');
    writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(htmlPath, renderHtml(report));
    process.stdout.write(`${renderTable(report.workloads)}\n`);
    process.stdout.write(`report: ${htmlPath}\njson:   ${jsonPath}\n`);
    const failed = report.workloads.some((w) => w.results.some((r) => r.error !== null));
    return failed ? 1 : 0;
  } finally {
    progress?.stop();
    process.off('SIGINT', onSigint);
    removeData();
  }
}
