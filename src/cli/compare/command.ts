import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CliUsageError } from '../../errors.js';
import { type StepProgress, stepProgress } from '../progress.js';
import { loadTaskReference } from '../task-ref.js';
import { builtInWorkloads, type Workload } from '../workloads.js';
import { formatMs } from './format.js';
import { renderHtml } from './html.js';
import { MODELS, measureModel, terminateActivePools, type RunSettings } from './measure.js';
import { coreAvailability } from './resources.js';
import { newReport, type WorkloadReport } from './report.js';
import { renderTable } from './table.js';
import { verdict } from './verdict.js';

/**
 * `tandem compare`: runs each workload under every execution model, one after
 * another (never two at once, so they do not compete for the cores), then
 * prints the table and writes compare.json and compare.html.
 */

export interface CompareOptions {
  quick: boolean;
  out?: string;
  task?: string;
  input?: string;
  workloads?: string[];
  size: number;
  inFlight: number;
}

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
  const settings: RunSettings = { workers: options.size, inFlight: options.inFlight };
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
    const steps = stepProgress(workloads.length * MODELS.length);
    progress = steps;
    // (A workload whose sequential run fails ends the bar short of its total.)
    for (const workload of workloads) {
      const available = coreAvailability();
      const results = [];
      for (const model of MODELS) {
        const step = `${workload.name} · ${model.label}`;
        steps.begin(step);
        const result = await measureModel(model.name, workload, settings);
        steps.end(step, result.error === null ? formatMs(result.wallMs) : `failed: ${result.error}`);
        results.push(result);
        // A task that fails on its own will fail everywhere: do not make the user wait for four more failures.
        if (model.name === 'sequential' && result.error !== null) break;
      }
      const sequential = results.find((r) => r.model === 'sequential')!;
      for (const r of results) r.speedup = r.error === null && sequential.error === null ? sequential.wallMs / r.wallMs : NaN;
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
    report.machine.loadAverageAfter = loadavg()[0]!;
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
