// Runs the built `tandem` command on a pseudo-terminal, as a user at a
// terminal runs it, and replays what the terminal received on a small screen
// model, so that tests assert on what the user sees.
//
// The pseudo-terminal comes from util-linux's `script` (Debian's bsdutils,
// always installed): it starts the command on a new terminal, copies what
// the command writes there (stdout and stderr, as the terminal mixes them) to
// its own stdout, and what it reads on stdin to the terminal, so writing
// "\x03" types Ctrl-C: the terminal sends SIGINT to the command's whole
// process group and echoes "^C", as it does for a user.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CLI } from './helpers.js';

const DEADLINE_MS = 60_000;

/**
 * A terminal's screen, fed with the bytes written to it. `rows()` is every
 * row, scrolled off or on screen; `lines()` joins the rows a long line
 * wrapped onto, as a terminal does when text is copied from it.
 */
export class Screen {
  readonly #rows: number;
  readonly #cols: number;
  readonly #lines: string[][] = [[]];
  /** Rows that continue the row above (a long line wrapped onto them). */
  readonly #continued = new Set<number>();
  #row = 0;
  #col = 0;
  #pendingWrap = false;
  #autowrap = true;
  #saved: { row: number; col: number } | null = null;
  /** Escape sequences this model does not know: a test fails on them rather than misread the screen. */
  readonly unknown: string[] = [];

  constructor(rows = 24, cols = 80) {
    this.#rows = rows;
    this.#cols = cols;
  }

  /** Index of the first line on screen (lines above it have scrolled off). */
  get #top(): number {
    return Math.max(0, this.#lines.length - this.#rows);
  }

  #line(): string[] {
    while (this.#lines.length <= this.#row) this.#lines.push([]);
    return this.#lines[this.#row];
  }

  #print(char: string): void {
    if (this.#pendingWrap) {
      this.#pendingWrap = false;
      this.#row++;
      this.#col = 0;
      this.#continued.add(this.#row);
    }
    const line = this.#line();
    while (line.length < this.#col) line.push(' ');
    line[this.#col] = char;
    if (this.#col === this.#cols - 1) {
      // The cursor stays on the last column until the next character wraps (as xterm does).
      if (this.#autowrap) this.#pendingWrap = true;
    } else this.#col++;
  }

  #csi(params: string, final: string): void {
    const n = (i: number, fallback: number): number => {
      const value = params.replace('?', '').split(';')[i];
      return value === undefined || value === '' ? fallback : Number(value);
    };
    // A count or position of 0 means 1 (ECMA-48): Deno's readline writes CSI 0G where Node's writes CSI 1G.
    const count = (i: number): number => Math.max(1, n(i, 1));
    this.#pendingWrap = false;
    const line = this.#line();
    switch (final) {
      case 'G':
        this.#col = Math.min(this.#cols - 1, count(0) - 1);
        return;
      case 'C':
        this.#col = Math.min(this.#cols - 1, this.#col + count(0));
        return;
      case 'D':
        this.#col = Math.max(0, this.#col - count(0));
        return;
      case 'A':
        this.#row = Math.max(this.#top, this.#row - count(0));
        return;
      case 'B':
        this.#row += count(0);
        return;
      case 'K': {
        const mode = n(0, 0);
        if (mode === 0) line.length = Math.min(line.length, this.#col);
        else if (mode === 1) for (let i = 0; i <= this.#col && i < line.length; i++) line[i] = ' ';
        else line.length = 0;
        return;
      }
      case 'J':
        if (n(0, 0) !== 0) break;
        line.length = Math.min(line.length, this.#col);
        this.#lines.length = this.#row + 1;
        for (const row of this.#continued) if (row > this.#row) this.#continued.delete(row);
        return;
      case 'h':
      case 'l':
        if (params === '?7') this.#autowrap = final === 'h';
        else if (params !== '?25') break;
        return;
      case 'm':
        return;
    }
    this.unknown.push(`CSI ${params}${final}`);
  }

  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const char = text[i];
      if (char === '\x1b') {
        const next = text[i + 1];
        if (next === '[') {
          // biome-ignore lint/suspicious/noControlCharactersInRegex: a terminal control sequence starts with ESC
          const match = /^\x1b\[([?0-9;]*)([@-~])/.exec(text.slice(i));
          if (match === null) {
            this.unknown.push(JSON.stringify(text.slice(i, i + 8)));
            continue;
          }
          this.#csi(match[1], match[2]);
          i += match[0].length - 1;
        } else if (next === '7') {
          // Saved relative to the screen, not to the text: after scrolling, restoring lands elsewhere in the text.
          this.#saved = { row: this.#row - this.#top, col: this.#col };
          i++;
        } else if (next === '8') {
          if (this.#saved !== null) {
            this.#row = this.#top + this.#saved.row;
            this.#col = this.#saved.col;
          }
          this.#pendingWrap = false;
          i++;
        } else this.unknown.push(JSON.stringify(text.slice(i, i + 4)));
      } else if (char === '\r') {
        this.#col = 0;
        this.#pendingWrap = false;
      } else if (char === '\n') {
        this.#row++;
        this.#pendingWrap = false;
        this.#line();
        // Text printed on a row anew (after a line feed) is not the continuation of the row above.
        this.#continued.delete(this.#row);
      } else if (char === '\b') {
        this.#col = Math.max(0, this.#col - 1);
      } else if (char === '\x07') {
        // The bell: nothing on screen.
      } else this.#print(char);
    }
  }

  rows(): string[] {
    return this.#lines.map((line) => line.join('').trimEnd());
  }

  lines(): string[] {
    const lines: string[] = [];
    this.#lines.forEach((row, i) => {
      const text = row.join('');
      if (this.#continued.has(i) && lines.length > 0) lines[lines.length - 1] += text;
      else lines.push(text);
    });
    return lines.map((line) => line.trimEnd());
  }
}

export interface TerminalRun {
  /** What the terminal received, as raw text (escape sequences included). */
  raw(): string;
  /** The screen's lines so far (long lines whole, not as the rows they wrapped onto). */
  lines(): string[];
  /** Escape sequences the screen model did not know (none expected). */
  unknown(): string[];
  /** Types on the terminal's keyboard ("\x03" is Ctrl-C). */
  type(keys: string): void;
  /** Waits until the screen's lines satisfy `test`. */
  waitForScreen(test: (lines: string[]) => boolean, what: string): Promise<void>;
  /** The command's exit code (as `script -e` reports it). */
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

const quote = (arg: string): string => `'${arg.replaceAll("'", "'\\''")}'`;

/** Starts `tandem …args` on a terminal of `rows` × `cols`. */
export function startInTerminal(args: string[], options: { rows?: number; cols?: number; cwd?: string } = {}): TerminalRun {
  const rows = options.rows ?? 24;
  const cols = options.cols ?? 80;
  // Through a shell, Deno does not turn `deno file.js` into `deno run -A file.js` as its child_process does.
  const runtime = process.versions.deno ? [process.execPath, 'run', '-A'] : [process.execPath];
  const command = `stty rows ${rows} cols ${cols}; exec ${[...runtime, CLI, ...args].map(quote).join(' ')}`;
  const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    // No NODE_OPTIONS from the test runner (vitest's loaders) leaks into the CLI.
    env: { ...process.env, NODE_OPTIONS: '', TERM: 'xterm' },
  });
  running.add(child);
  const screen = new Screen(rows, cols);
  let raw = '';
  let errors = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    screen.write(chunk);
    for (const check of waiters) check();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      running.delete(child);
      resolve(code);
    });
  });
  return {
    raw: () => raw,
    lines: () => screen.lines(),
    unknown: () => screen.unknown,
    type: (keys) => void child.stdin.write(keys),
    exited,
    waitForScreen: (test, what) =>
      new Promise<void>((resolve, reject) => {
        const fail = (why: string): void => {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`${why} before ${what}; the screen:\n${screen.lines().join('\n')}\nscript's stderr:\n${errors}`));
        };
        const check = (): void => {
          if (!test(screen.lines())) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => fail(`${DEADLINE_MS} ms passed`), DEADLINE_MS);
        waiters.add(check);
        void exited.then(() => {
          if (!waiters.has(check)) return;
          check();
          if (waiters.has(check)) fail('tandem exited');
        });
        check();
      }),
  };
}

/** The processes of the terminal's session: `script`'s children (the command, exec'd by the shell). */
function sessionLeaders(child: ChildProcess): number[] {
  try {
    return readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Kills what a test left running on a terminal: the command's process group (workers included), then `script`. */
export function cleanupTerminals(): void {
  for (const child of running) {
    for (const pid of sessionLeaders(child)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    child.kill('SIGKILL');
  }
  running.clear();
}
