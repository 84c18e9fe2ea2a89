import { fromMarker, isSharedMarker } from '../shareable.js';

/**
 * Replaces shared-object markers in received arguments by live objects. Only
 * called for calls the parent flagged (FLAG_SHARED), so ordinary calls never
 * pay for the walk. Arrays and plain objects arrive as fresh copies, so they
 * are updated in place.
 */
export function rehydrate(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (isSharedMarker(value)) return fromMarker(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = rehydrate(value[i]);
    return value;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === Object.prototype || proto === null) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = rehydrate(record[key]);
  } else if (value instanceof Map) {
    for (const [key, item] of value) value.set(key, rehydrate(item));
  }
  return value;
}
