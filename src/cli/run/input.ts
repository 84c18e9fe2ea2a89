import { createReadStream, existsSync, statSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { CliUsageError, InvalidInputError } from '../../errors.js';

/**
 * The input of `tandem run`: JSON Lines, one task input per line, from a file
 * or stdin. Lines are read lazily (only as fast as the pool takes them), keep
 * their line number for messages, and blank lines are skipped (they still
 * count in the numbering, so numbers match an editor's).
 */

export interface InputLine {
  /** 1-based line number in the file. */
  line: number;
  text: string;
}

export interface InputSource {
  lines: AsyncIterableIterator<InputLine>;
  /** Stops reading now (Ctrl-C): a pending read ends, the file or stdin is released. */
  close(): void;
}

export function openInput(path: string | undefined): InputSource {
  let stream: Readable;
  if (path === undefined || path === '-') stream = process.stdin;
  else {
    if (!existsSync(path) || !statSync(path).isFile()) throw new CliUsageError(`input file ${path} does not exist or is not a file`);
    stream = createReadStream(path, { encoding: 'utf8' });
  }
  const reader: Interface = createInterface({ input: stream, crlfDelay: Infinity });
  // Taken now, not when the first line is wanted: readline emits lines as soon
  // as the stream flows, and only an attached iterator buffers them.
  const texts = reader[Symbol.asyncIterator]();
  async function* numbered(): AsyncGenerator<InputLine> {
    let line = 0;
    for await (const text of { [Symbol.asyncIterator]: () => texts }) {
      line++;
      if (text.trim() !== '') yield { line, text };
    }
  }
  return {
    lines: numbered(),
    close() {
      reader.close();
      stream.destroy();
    },
  };
}

/** Inputs in a file, counted ahead for the progress bar's ETA (only when a bar is shown). */
export async function countInputs(path: string): Promise<number> {
  let count = 0;
  const reader = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const text of reader) if (text.trim() !== '') count++;
  return count;
}

/** The parsed input of a line, or an InvalidInputError naming the line. */
export function parseLine(input: InputLine): { ok: true; value: unknown } | { ok: false; error: InvalidInputError } {
  try {
    return { ok: true, value: JSON.parse(input.text) };
  } catch (error) {
    return { ok: false, error: new InvalidInputError(input.line, (error as Error).message) };
  }
}
