// `tandem run` as a user at a terminal sees it: stdout and stderr on one
// pseudo-terminal, Ctrl-C typed on its keyboard, SIGTERM sent by another
// program. Assertions are on the screen as the terminal shows it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TASKS, cleanupCli, isAlive, tempDir, waitUntil } from './helpers.js';
import { Screen, cleanupTerminals, startInTerminal } from './terminal.js';

afterEach(async () => {
  cleanupTerminals();
  await cleanupCli();
});

const BAR = /^tandem run .*[█░]/;

/** What a run's screen shows, sorted into the lines it may hold; anything else fails the test. */
function readScreen(lines: string[]) {
  const results: Record<string, unknown>[] = [];
  const messages: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    if (line.startsWith('{')) results.push(JSON.parse(line) as Record<string, unknown>);
    else if (line.startsWith('tandem run: ')) messages.push(line);
    else throw new Error(`a line on screen that is neither a result nor a message of tandem: ${JSON.stringify(line)}\n${lines.join('\n')}`);
  }
  return { results, messages, summary: messages.at(-1) ?? '' };
}

/** The summary's counts and the input line it names. */
function summaryCounts(summary: string) {
  const counts = /: (\d+) ok, (\d+) failed, (\d+) cancelled in [\d.]+ s$/.exec(summary);
  const line = /at input line (\d+)/.exec(summary);
  if (counts === null || line === null) throw new Error(`not the summary of a stopped run: ${summary}`);
  return { ok: Number(counts[1]), failed: Number(counts[2]), cancelled: Number(counts[3]), line: Number(line[1]) };
}

/**
 * Inputs for `handshake`: 5 that wait for the file `release`, then 40 that
 * record their process and wait for the file `finish`. Two workers: after
 * the release, two of the 40 run and the rest wait in the queue.
 */
function gatedRun(extraArgs: string[] = []) {
  const dir = tempDir();
  const files = { release: join(dir, 'release'), finish: join(dir, 'finish'), pids: join(dir, 'pids') };
  const inputs = [
    ...Array.from({ length: 5 }, (_, i) => ({ id: `early-${i + 1}`, waitFor: files.release })),
    ...Array.from({ length: 40 }, (_, i) => ({ id: `gated-${i + 1}`, waitFor: files.finish, pidFile: files.pids })),
  ];
  const input = join(dir, 'inputs.jsonl');
  writeFileSync(input, `${inputs.map((i) => JSON.stringify(i)).join('\n')}\n`);
  const run = startInTerminal(['run', `${TASKS}#handshake`, '--input', input, '--backend', 'thread', '--size', '2', ...extraArgs]);
  const started = (): string[] => (existsSync(files.pids) ? readFileSync(files.pids, 'utf8').split('\n').filter(Boolean) : []);
  return { run, files, started };
}

/** Starts a gated run and brings it to: the bar drawn, then 5 results written under it, then two gated calls running. */
async function runUntilGated(extraArgs: string[] = []) {
  const gated = gatedRun(extraArgs);
  const { run, files, started } = gated;
  // The bar is drawn before any result, so every result is written while it is on screen.
  await run.waitForScreen((lines) => lines.some((l) => BAR.test(l)), 'the progress bar is drawn');
  writeFileSync(files.release, '');
  // Counted wherever they are on screen: a result glued to the bar fails later, with the screen to show.
  await run.waitForScreen((lines) => (lines.join('\n').match(/\{"line":/g) ?? []).length >= 5, 'the first 5 results are on screen');
  await waitUntil(() => started().length >= 2, 'both workers run a gated call');
  return gated;
}

describe('tandem run on a terminal', () => {
  it('writes result lines clear of the progress bar, and after Ctrl-C a clean summary that counts cancelled inputs and names the line it ' +
    'stopped at', {
    timeout: 120_000,
  }, async () => {
    const { run, files } = await runUntilGated();
    run.type('\x03');
    await run.waitForScreen((lines) => lines.some((l) => l.includes('Ctrl-C again')), 'tandem says what Ctrl-C did');
    // The calls handed to workers may finish after a first Ctrl-C.
    writeFileSync(files.finish, '');
    expect(await run.exited).toBe(130);

    const { results, messages, summary } = readScreen(run.lines());
    // One line per input read, in input order, none glued to the bar or to another line.
    expect(results.map((r) => r.line)).toEqual(results.map((_, i) => i + 1));
    expect(results.slice(0, 5)).toEqual([1, 2, 3, 4, 5].map((n) => ({ line: n, result: `early-${n}` })));
    const ok = results.filter((r) => 'result' in r);
    const cancelled = results.filter((r) => 'error' in r);
    for (const line of cancelled) expect(line).toMatchObject({ error: { code: 'ERR_TANDEM_CANCELLED' } });
    // What Ctrl-C said it did is what happened: the queued calls were cancelled (not
    // failed), the ones handed to workers (two running, maybe more sent ahead) finished.
    const note = /(\d+) queued call\(s\) cancelled, letting the (\d+) handed to workers finish/.exec(
      messages.find((m) => m.includes('Ctrl-C again')) ?? '',
    );
    expect(note).not.toBeNull();
    const [queued, handed] = [Number(note![1]), Number(note![2])];
    expect(handed).toBeGreaterThanOrEqual(2);
    expect({ ok: ok.length, cancelled: cancelled.length }).toEqual({ ok: 5 + handed, cancelled: queued });
    expect(summaryCounts(summary)).toEqual({ ok: ok.length, failed: 0, cancelled: cancelled.length, line: results.length });
    expect(summary).toContain('SIGINT');
    expect(run.raw()).not.toContain('\x1b[?7l'); // line wrapping left as it was
    expect(run.unknown()).toEqual([]);
  });

  it('on a second Ctrl-C stops the running calls and counts them as cancelled', { timeout: 120_000 }, async () => {
    const { run } = await runUntilGated();
    run.type('\x03');
    await run.waitForScreen((lines) => lines.some((l) => l.includes('Ctrl-C again')), 'tandem says what Ctrl-C did');
    run.type('\x03');
    expect(await run.exited).toBe(130);
    const { results, summary } = readScreen(run.lines());
    expect(results.map((r) => r.line)).toEqual(results.map((_, i) => i + 1));
    expect(results.filter((r) => 'result' in r)).toHaveLength(5);
    expect(summaryCounts(summary)).toEqual({ ok: 5, failed: 0, cancelled: results.length - 5, line: results.length });
  });

  it('on SIGTERM stops at once and says SIGTERM', { timeout: 120_000 }, async () => {
    const { run, started } = await runUntilGated();
    // Thread workers share the command's process: the pid the tasks recorded is tandem's own.
    const pid = Number(started()[0]);
    process.kill(pid, 'SIGTERM');
    expect(await run.exited).toBe(143);
    const { results, messages, summary } = readScreen(run.lines());
    expect(results.map((r) => r.line)).toEqual(results.map((_, i) => i + 1));
    expect(summaryCounts(summary)).toEqual({ ok: 5, failed: 0, cancelled: results.length - 5, line: results.length });
    expect(summary).toContain('SIGTERM');
    for (const message of messages) expect(message).not.toMatch(/SIGINT|Ctrl-C/);
    await waitUntil(() => !isAlive(pid), 'tandem has exited');
  });
});

describe('the screen model of the terminal tests', () => {
  it('sees a line glued to a progress bar, and a cursor sent back up over printed lines', () => {
    const glued = new Screen(24, 80);
    glued.write('tandem run ░░░ 0%\x1b[0K{"line":1,"result":2}\r\n');
    expect(() => readScreen(glued.lines())).toThrow(/neither a result nor a message/);

    // Save the cursor, print enough lines to scroll, restore, print: the text lands on an earlier line.
    const restored = new Screen(4, 80);
    restored.write('\x1b7');
    for (let i = 1; i <= 6; i++) restored.write(`{"line":${i}}\r\n`);
    restored.write('\x1b8\r\ntandem run: summary\r\n');
    expect(restored.lines().at(-1)).not.toBe('tandem run: summary');
  });
});
