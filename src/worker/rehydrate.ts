import { classOf, isClassMarker } from '../classes.js';
import { fromMarker, isSharedMarker } from '../shareable.js';

/**
 * Replaces markers in received values by live objects: shared objects over
 * the same memory, instances of registered classes with their prototype.
 * Only called for values the sender flagged (FLAG_SHARED on a call, the
 * envelope on a result), so ordinary calls never pay for the walk. Arrays,
 * plain objects, Maps and Sets arrive as fresh copies, so they are updated in
 * place; one marker reached twice (a shared reference, a cycle) becomes one
 * object. `label` names the value in errors (`args`, `result`).
 */
export function rehydrate(value: unknown, label = 'args'): unknown {
  if (value === null || typeof value !== 'object') return value;
  return revive(value, label, new Map());
}

/**
 * The items of a chunk, rehydrated in place; an item that cannot be rebuilt
 * throws what `blame(index, error)` makes of it, so only that item's call fails.
 */
export function rehydrateItems(items: unknown[], blame: (index: number, error: unknown) => unknown): void {
  const done = new Map<object, unknown>();
  for (let i = 0; i < items.length; i++) {
    try {
      items[i] = revive(items[i], `items[${i}]`, done);
    } catch (error) {
      throw blame(i, error);
    }
  }
}

function revive(value: unknown, label: string, done: Map<object, unknown>): unknown {
  if (value === null || typeof value !== 'object') return value;
  const known = done.get(value);
  if (known !== undefined) return known;
  if (isSharedMarker(value)) {
    const live = fromMarker(value);
    done.set(value, live);
    return live;
  }
  if (isClassMarker(value)) {
    const cls = classOf(value, label);
    // The constructor does not run; properties are defined, not assigned, as
    // class fields are, so a setter on the prototype does not run either.
    const instance = Object.create(cls.prototype as object) as object;
    done.set(value, instance);
    const data = value.data;
    for (const key of Object.keys(data)) {
      Object.defineProperty(instance, key, { value: revive(data[key], label, done), writable: true, enumerable: true, configurable: true });
    }
    return instance;
  }
  done.set(value, value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], label, done);
    return value;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === Object.prototype || proto === null) {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = revive(record[key], label, done);
  } else if (value instanceof Map) {
    // Keys may be markers too: rebuild the entries in their order.
    const entries = [...value];
    value.clear();
    for (const [key, item] of entries) value.set(revive(key, label, done), revive(item, label, done));
  } else if (value instanceof Set) {
    const items = [...value];
    value.clear();
    for (const item of items) value.add(revive(item, label, done));
  }
  return value;
}
