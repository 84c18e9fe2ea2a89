/**
 * How SharedQueue turns values into bytes. node:v8's serialize/deserialize
 * (the structured clone format) costs microseconds even for a number, more
 * than the rest of a put and a get together (bench/sync.mjs), so small, plain
 * values take a faster path that gives exactly what structured clone would:
 *
 *   byte 0 = V8    -> the rest is v8.serialize(value)
 *   byte 0 = PLAIN -> one tagged tree of: undefined, null, booleans, numbers,
 *                     strings (UTF-16 code units, so lone surrogates survive;
 *                     long ASCII ones one byte per character),
 *                     dense arrays and plain objects of those
 *
 * A value takes the plain path only if it is made of those alone, has at most
 * MAX_NODES parts and no object appears twice (structured clone would keep
 * the sharing); anything else (Date, Map, typed arrays, cycles, bigint, ...)
 * goes through v8 whole.
 */
import { deserialize, serialize } from 'node:v8';

const V8 = 0;
const PLAIN = 1;

const UNDEFINED = 1;
const NULL = 2;
const TRUE = 3;
const FALSE = 4;
const INT32 = 5;
const FLOAT64 = 6;
const STRING = 7;
const ARRAY = 8;
const OBJECT = 9;

const MAX_NODES = 256;
/** Strings up to this many code units are copied by a JS loop (see Encoder#string). */
const SHORT_STRING = 32;
/** Top bit of a string's byte length: its bytes are ASCII, one per character. */
const ASCII_FLAG = 0x80000000;
const NOT_PLAIN = Symbol('not plain');

/** Encodes into a buffer it reuses: `bytes` holds the result until the next encode(). */
export class Encoder {
  #buffer = Buffer.allocUnsafe(256);

  /** The buffer the last encode() wrote (its first `length` bytes). */
  get bytes(): Buffer {
    return this.#buffer;
  }
  #at = 0;
  #nodes = 0;
  #seen: object[] = [];

  /** Encodes `value` into `bytes`; returns how many bytes it took. */
  encode(value: unknown): number {
    this.#at = 0;
    this.#nodes = 0;
    this.#seen.length = 0;
    this.#ensure(1);
    this.#buffer[this.#at++] = PLAIN;
    if (this.#write(value) !== NOT_PLAIN) return this.#at;
    const bytes = serialize(value);
    this.#at = 0;
    this.#ensure(bytes.length + 1);
    this.#buffer[0] = V8;
    this.#buffer.set(bytes, 1);
    return bytes.length + 1;
  }

  #ensure(more: number): void {
    if (this.#at + more <= this.#buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#at + more));
    this.#buffer.copy(bigger, 0, 0, this.#at);
    this.#buffer = bigger;
  }

  #tag(tag: number): undefined {
    this.#ensure(1);
    this.#buffer[this.#at++] = tag;
    return;
  }

  #write(value: unknown): typeof NOT_PLAIN | undefined {
    if (++this.#nodes > MAX_NODES) return NOT_PLAIN;
    switch (typeof value) {
      case 'undefined':
        return this.#tag(UNDEFINED);
      case 'boolean':
        return this.#tag(value ? TRUE : FALSE);
      case 'number':
        if ((value | 0) === value && !Object.is(value, -0)) {
          this.#ensure(5);
          this.#buffer[this.#at] = INT32;
          this.#at = this.#buffer.writeInt32LE(value, this.#at + 1);
        } else {
          this.#ensure(9);
          this.#buffer[this.#at] = FLOAT64;
          this.#at = this.#buffer.writeDoubleLE(value, this.#at + 1);
        }
        return;
      case 'string':
        this.#tag(STRING);
        return this.#string(value);
      case 'object':
        break;
      default:
        return NOT_PLAIN;
    }
    if (value === null) return this.#tag(NULL);
    if (this.#seen.includes(value)) return NOT_PLAIN;
    this.#seen.push(value);
    if (Array.isArray(value)) {
      const length = value.length;
      if (length > MAX_NODES || Object.getPrototypeOf(value) !== Array.prototype || Object.keys(value).length !== length) {
        return NOT_PLAIN; // holes or extra properties: v8 keeps them
      }
      this.#ensure(5);
      this.#buffer[this.#at] = ARRAY;
      this.#at = this.#buffer.writeUInt32LE(length, this.#at + 1);
      for (let i = 0; i < length; i++) if (this.#write(value[i]) === NOT_PLAIN) return NOT_PLAIN;
      return;
    }
    if (Object.getPrototypeOf(value) !== Object.prototype) return NOT_PLAIN;
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    this.#ensure(5);
    this.#buffer[this.#at] = OBJECT;
    this.#at = this.#buffer.writeUInt32LE(keys.length, this.#at + 1);
    for (const key of keys) {
      if (key === '__proto__') return NOT_PLAIN; // an own property of that name: v8 recreates it faithfully
      this.#string(key);
      if (this.#write(record[key]) === NOT_PLAIN) return NOT_PLAIN;
    }
    return;
  }

  #string(value: string): undefined {
    const length = value.length;
    this.#ensure(4 + length * 2);
    const buffer = this.#buffer;
    let at = this.#at + 4;
    if (length <= SHORT_STRING) {
      // A JS loop beats Buffer#write's call into C++ for short strings (keys, mostly).
      for (let i = 0; i < length; i++) {
        const unit = value.charCodeAt(i);
        buffer[at++] = unit & 0xff;
        buffer[at++] = unit >>> 8;
      }
    } else if (Buffer.byteLength(value, 'utf8') === length) {
      // All ASCII: one byte per character, flagged in the length's top bit.
      at += buffer.write(value, at, 'latin1');
      buffer.writeUInt32LE(at - this.#at - 4 + ASCII_FLAG, this.#at);
      this.#at = at;
      return;
    } else {
      at += buffer.write(value, at, 'utf16le');
    }
    buffer.writeUInt32LE(at - this.#at - 4, this.#at);
    this.#at = at;
    return;
  }
}

/** Decodes the first `length` bytes of `bytes`, as Encoder.encode() produced them. */
export function decode(bytes: Buffer, length: number): unknown {
  if (bytes[0] === V8) return deserialize(bytes.subarray(1, length));
  const cursor = { at: 1 };
  return read(bytes, cursor);
}

function read(bytes: Buffer, cursor: { at: number }): unknown {
  const tag = bytes[cursor.at++];
  switch (tag) {
    case UNDEFINED:
      return undefined;
    case NULL:
      return null;
    case TRUE:
      return true;
    case FALSE:
      return false;
    case INT32:
      cursor.at += 4;
      return bytes.readInt32LE(cursor.at - 4);
    case FLOAT64:
      cursor.at += 8;
      return bytes.readDoubleLE(cursor.at - 8);
    case STRING:
      return readString(bytes, cursor);
    case ARRAY: {
      const length = bytes.readUInt32LE(cursor.at);
      cursor.at += 4;
      const array = new Array<unknown>(length);
      for (let i = 0; i < length; i++) array[i] = read(bytes, cursor);
      return array;
    }
    default: {
      const count = bytes.readUInt32LE(cursor.at);
      cursor.at += 4;
      const record: Record<string, unknown> = {};
      for (let i = 0; i < count; i++) {
        const key = readString(bytes, cursor);
        record[key] = read(bytes, cursor);
      }
      return record;
    }
  }
}

function readString(bytes: Buffer, cursor: { at: number }): string {
  const header = bytes.readUInt32LE(cursor.at);
  if (header >= ASCII_FLAG) {
    const start = cursor.at + 4;
    cursor.at = start + (header - ASCII_FLAG);
    return bytes.toString('latin1', start, cursor.at);
  }
  const length = header;
  const start = cursor.at + 4;
  const end = start + length;
  cursor.at = end;
  if (length > SHORT_STRING * 2) return bytes.toString('utf16le', start, end);
  let text = '';
  for (let at = start; at < end; at += 2) text += String.fromCharCode(bytes[at] | (bytes[at + 1] << 8));
  return text;
}
