/**
 * The output of `tandem run`: one JSON line per input on stdout.
 *
 *   {"line":3,"result":42}
 *   {"line":4,"input":{"n":-1},"error":{"name":"TaskError","code":"ERR_TANDEM_TASK","message":"RangeError: n must be ≥ 0"}}
 *
 * `line` names the input by its line number; a failed input also echoes the
 * input (the raw text when it was not JSON). In ordered mode a finished result
 * waits until every earlier input has its line, so the output is in input order.
 */

export interface ErrorDescription {
  name: string;
  code: string | undefined;
  message: string;
}

export function describeError(error: unknown): ErrorDescription {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, code: typeof code === 'string' ? code : undefined, message: error.message };
  }
  return { name: 'Error', code: undefined, message: String(error) };
}

export function resultLine(line: number, result: unknown): string {
  try {
    return JSON.stringify({ line, result: result === undefined ? null : result });
  } catch (error) {
    return errorLine(line, undefined, {
      name: 'SerializationError',
      code: 'ERR_TANDEM_SERIALIZATION',
      message: `the result cannot be written as JSON: ${(error as Error).message}`,
    });
  }
}

export function errorLine(line: number, input: unknown, error: ErrorDescription): string {
  const record: Record<string, unknown> = { line };
  if (input !== undefined) record.input = input;
  record.error = error.code === undefined ? { name: error.name, message: error.message } : error;
  try {
    return JSON.stringify(record);
  } catch {
    return JSON.stringify({ line, error: record.error });
  }
}

interface Slot {
  text: string | null;
}

/** Writes lines in input order (each input reserves its place first) or as they finish. */
export class OutputQueue {
  readonly #ordered: boolean;
  readonly #write: (text: string) => void;
  readonly #waiting: Slot[] = [];

  constructor(ordered: boolean, write: (text: string) => void) {
    this.#ordered = ordered;
    this.#write = write;
  }

  /** Takes the next place in the output; call `fill` with its line once known. */
  reserve(): (text: string) => void {
    if (!this.#ordered) return (text) => this.#write(text);
    const slot: Slot = { text: null };
    this.#waiting.push(slot);
    return (text) => {
      slot.text = text;
      this.#drain();
    };
  }

  /** Lines held back behind an unfinished earlier input. */
  get held(): number {
    return this.#waiting.length;
  }

  #drain(): void {
    while (this.#waiting.length > 0 && this.#waiting[0].text !== null) this.#write(this.#waiting.shift()!.text!);
  }
}
