// The model-based test of issue 8 (the model and its commands are in
// model.ts): random command sequences against thread and process pools, then
// the counterexamples fast-check found, replayed as ordinary tests.
//
// A failure is printed by fast-check with its seed and shrunk command list:
// replay it with TANDEM_MODEL_SEED=<seed> TANDEM_MODEL_PATH=<path>. The
// default run (a fixed seed, see FIXED_SEED) is small enough for `npm test`;
// TANDEM_MODEL_RUNS=<n> runs n sequences per backend.
import fc from 'fast-check';
import { afterEach, describe, it } from 'vitest';
import { cleanup, workerBackends, type BackendName } from '../helpers.js';
import {
  Burst,
  Cancel,
  Close,
  DEADLINE_MS,
  MapItems,
  OpenGate,
  Pause,
  type PoolCommand,
  SettleOthers,
  type Start,
  Submit,
  commandsFor,
  runSequence,
} from './model.js';

afterEach(cleanup);

const RUNS = Number(process.env.TANDEM_MODEL_RUNS) || 15;
/** The random runs of one backend stop (as passed, unless one failed) after this long. */
const TIME_LIMIT_MS = process.env.TANDEM_MODEL_RUNS ? RUNS * 10_000 : 30_000;
/**
 * Without TANDEM_MODEL_SEED the random runs replay one fixed seed, so that a
 * failure in CI can be replayed as it happened; TANDEM_MODEL_SEED=random draws
 * a new seed (printed on failure), as `npm run test:model` does. The
 * sequences random seeds found are replayed below as counterexamples.
 */
const FIXED_SEED = 101;
const seedVar = process.env.TANDEM_MODEL_SEED;
const SEED = seedVar === undefined ? FIXED_SEED : seedVar === 'random' ? undefined : Number(seedVar);
const PATH = process.env.TANDEM_MODEL_PATH;

describe.each(workerBackends)('the pool against its model (%s)', (backend) => {
  it(
    `${RUNS} random command sequences keep every promise`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 0, max: 2 }),
          fc.constantFrom<Start>('lazy', 'ready', 'warm'),
          commandsFor(backend),
          (size, retries, start, commands) => runSequence(backend, size, retries, start, commands),
        ),
        // The time limit bounds a run that fails by hanging (each shrink step waits out a deadline).
        { numRuns: RUNS, seed: SEED, path: PATH, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] },
      );
    },
    TIME_LIMIT_MS + 4 * DEADLINE_MS,
  );
});

// Counterexamples fast-check found and shrank, replayed as they were found.
interface Counterexample {
  name: string;
  backends: readonly BackendName[];
  size: number;
  retries: number;
  start: Start;
  commands: () => PoolCommand[];
}

const counterexamples: Counterexample[] = [
  {
    name: 'a quick call sent ahead and cancelled while pending does not run',
    backends: workerBackends,
    ...{ size: 1, retries: 0, start: 'warm' },
    commands: () => [new Burst(30), new Cancel(0)],
  },
  {
    name: 'a quick call finished before a crash in the same batch keeps its result',
    backends: workerBackends,
    ...{ size: 1, retries: 0, start: 'warm' },
    commands: () => [new Burst(5), new Submit('exit', false)],
  },
  {
    name: 'a call killed with SIGKILL behind a map is not run again with retries: 0',
    backends: ['process'],
    ...{ size: 2, retries: 0, start: 'warm' },
    commands: () => [new MapItems('map', ['wait', 'quick', 'quick']), new Submit('kill', false), new Submit('quick', false)],
  },
  {
    name: 'a map item finished before a crash keeps its result',
    backends: workerBackends,
    ...{ size: 1, retries: 1, start: 'warm' },
    commands: () => [new MapItems('map', ['quick']), new Submit('exit', false), new Pause(0), new Pause(0), new Submit('gated', false)],
  },
  {
    name: 'a hanging call cancelled while running is still stopped at its timeout: close() returns',
    backends: workerBackends,
    ...{ size: 1, retries: 0, start: 'ready' },
    commands: () => [new Submit('hang', false), new Pause(100), new Cancel(0), new Close()],
  },
  {
    name: 'a call cancelled while running is no longer counted running',
    backends: workerBackends,
    ...{ size: 1, retries: 0, start: 'ready' },
    commands: () => [new Submit('gated', false), new Pause(100), new Cancel(0)],
  },
  {
    name: 'a quick call does not wait behind a blocked call while a second worker is free',
    backends: workerBackends,
    ...{ size: 2, retries: 0, start: 'warm' },
    commands: () => [new Submit('gated', false), new Submit('quick', false), new SettleOthers()],
  },
  {
    name: 'no call is sent ahead to a busy worker while another worker is starting',
    backends: workerBackends,
    ...{ size: 2, retries: 0, start: 'warm' },
    commands: () => [
      new Submit('quick', false),
      new OpenGate(),
      new Submit('quick', false),
      new Submit('gated', false),
      new Burst(3),
      new Pause(100),
      new SettleOthers(),
    ],
  },
];

describe.each(workerBackends)('counterexamples of the model (%s)', (backend) => {
  const cases = counterexamples.filter((example) => example.backends.includes(backend));
  it.each(cases.map((example) => [example.name, example] as const))(
    '%s',
    async (_, example) => {
      await runSequence(backend, example.size, example.retries, example.start, example.commands());
    },
    4 * DEADLINE_MS,
  );
});
