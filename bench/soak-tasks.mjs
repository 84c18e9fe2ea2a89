// Tasks of the fault soak (bench/soak.mjs): workers import this file again by URL.
//
// Every call carries a token. A call that runs appends its token to a log of
// its own worker (in TANDEM_SOAK_DIR) before it does anything else, so the
// soak can count afterwards how many times each call really ran — a count the
// pool's own bookkeeping cannot fake. Appends are synchronous: they are on
// disk before a task exits or is killed.
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { task } from 'tandem';

let logFile = null;
function ran(token) {
  const dir = process.env.TANDEM_SOAK_DIR;
  if (!dir) return;
  logFile ??= path.join(dir, `runs-${process.pid}-${threadId}.log`);
  appendFileSync(logFile, `${token}\n`);
}

function spin(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A well-behaved synchronous call: busy for `spinMs`, returns `value`. */
export const work = task(import.meta.url, function work(token, value, spinMs) {
  ran(token);
  if (spinMs > 0) spin(spinMs);
  return value;
});

/** A well-behaved asynchronous call: waits `sleepMs`, returns `value`. */
export const workAsync = task(import.meta.url, async function workAsync(token, value, sleepMs) {
  ran(token);
  await sleep(sleepMs);
  return value;
});

/** Throws: the future must reject with TaskError (after `retries` more runs). */
export const fail = task(import.meta.url, function fail(token) {
  ran(token);
  throw new RangeError(`soak: call ${token} fails on purpose`);
});

/** Ends its worker with `process.exit(code)` while running. */
export const exit = task(import.meta.url, function exit(token, code) {
  ran(token);
  process.exit(code);
});

/** Throws outside of any call (from a timer) and never returns: the worker dies of it. */
export const uncaught = task(import.meta.url, function uncaught(token) {
  ran(token);
  setTimeout(() => {
    const error = new Error(`soak: call ${token} throws outside of the task, on purpose`);
    error.stack = `${error.name}: ${error.message}`; // a process worker prints it: one line, not a trace
    throw error;
  }, 1);
  return new Promise(() => {});
});

/** Synchronous and far longer than its timeout: only stopping the worker ends it. */
export const hang = task(import.meta.url, function hang(token, ms) {
  ran(token);
  spin(ms);
  return 'hang finished';
});

/**
 * Writes its worker's pid to `pid-<token>` so the soak can SIGKILL the worker
 * from outside while this call runs, then waits `ms` and returns `token`.
 */
export const victim = task(import.meta.url, async function victim(token, ms) {
  ran(token);
  writeFileSync(path.join(process.env.TANDEM_SOAK_DIR, `pid-${token}`), String(process.pid));
  await sleep(ms);
  return token;
});

/** The item of map and imap: doubles it; a negative item throws. */
export const double = task(import.meta.url, function double(x) {
  if (x < 0) throw new RangeError(`soak: item ${x} fails on purpose`);
  return x * 2;
});
