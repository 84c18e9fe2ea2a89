/**
 * Instances of the user's own classes, sent by reference to their class, as
 * Python's pickle sends them: `registerClass(import.meta.url, Point)` records
 * the module that exports the class and the export's name. An instance then
 * travels as a marker — module URL, export name, the instance's own
 * enumerable data — and the receiver finds the class again among its module's
 * exports and rebuilds the instance with `Object.create(Point.prototype)`
 * plus that data. The constructor does not run on the way.
 *
 * The tables live on `globalThis` under registered symbols, as the task
 * registry does, so the ESM and CommonJS builds of tandem loaded in one
 * thread (and a task module's own import of tandem) see the same classes.
 *
 * In an app's bundle with tandem inside, every class is the bundle's and
 * need not be exported: a worker started from the bundle registered it again
 * while the bundle loaded (see src/worker/bundle-entry.ts).
 */
import { isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidOptionError, SerializationError } from './errors.js';
import { appBundleUrl, requireFrom } from './location.js';

/** The key of the marker object that stands for a registered class instance in a message. */
export const CLASS_MARKER = '__tandemClass__';

export interface ClassMarker {
  /** Module URL of the class. */
  [CLASS_MARKER]: string;
  /** Its export name. */
  name: string;
  /** The instance's own enumerable properties (themselves encoded). */
  data: Record<string, unknown>;
}

export interface Registration {
  module: string;
  name: string;
  cls: Function;
  /** Whether `module` exports `cls` as `name`; undefined until its exports could be read. */
  exported: boolean | undefined;
  /** The module's export names, for the error when it does not export the class. */
  exportNames: string[];
}

interface ClassTables {
  byPrototype: Map<object, Registration>;
  /** `${module}#${name}` → registration. */
  byName: Map<string, Registration>;
  /** Modules a receiver loaded itself to find a class: their exports, or why they failed. */
  loaded: Map<string, Record<string, unknown> | Error>;
  /** Export checks still running. */
  checking: Set<Promise<void>>;
}

const TABLES_KEY = Symbol.for('tandem.classes');
const globals = globalThis as unknown as Record<symbol, ClassTables | undefined>;
const tables: ClassTables = (globals[TABLES_KEY] ??= { byPrototype: new Map(), byName: new Map(), loaded: new Map(), checking: new Set() });

// never[]: any constructor fits, whatever its parameters (they are never called here).
type Class = abstract new (...args: never[]) => unknown;

/**
 * Lets instances of `cls` be passed to tasks and returned from them: they
 * arrive as instances of `cls` (methods, getters, `instanceof`), on threads
 * and processes alike. Call it once, next to the class, in the module that
 * exports it; the receiving thread or process imports that module and finds
 * the class among its exports by `name`.
 *
 * What travels is the instance's own enumerable data (each value checked and
 * sent like any argument, so nested registered instances work too); the
 * constructor is not run on arrival, and `#private` fields do not travel
 * (keep state the receiver needs in ordinary properties). A class its module
 * does not export fails with SerializationError naming it: at submit once
 * this thread has read the module's exports (a turn of the event loop after
 * it loaded), else in the receiver. Returns `cls`.
 *
 * @param moduleUrl `import.meta.url` in an ES module, `__filename` in CommonJS.
 * @param cls The class; it must be exported by that module.
 * @param name The name it is exported under, when that is not `cls.name`.
 * @example
 * ```ts
 * // geometry.ts
 * import { registerClass, task } from 'tandem';
 *
 * export class Point {
 *   constructor(public x: number, public y: number) {}
 *   length(): number { return Math.hypot(this.x, this.y); }
 * }
 * registerClass(import.meta.url, Point);
 *
 * export const scale = task(import.meta.url, (p: Point, k: number) => new Point(p.x * k, p.y * k));
 *
 * // main.ts
 * const twice = await pool.run(scale, new Point(3, 4), 2);
 * twice.length(); // 10: a Point again
 * ```
 */
export function registerClass<C extends Class>(moduleUrl: string, cls: C, name: string = cls?.name): C {
  const bundle = appBundleUrl();
  const module = bundle ?? normalizeModule(moduleUrl);
  if (typeof cls !== 'function' || cls.prototype === null || typeof cls.prototype !== 'object') {
    throw new InvalidOptionError('cls', cls, 'a class (the second argument of registerClass)');
  }
  if (typeof name !== 'string' || name === '') {
    throw new InvalidOptionError(
      'name',
      name,
      "the name the module exports the class under (registerClass's third argument, for a class without a name)",
    );
  }
  const builtIn = builtInBase(cls.prototype as object);
  if (builtIn !== null) {
    throw new InvalidOptionError(
      'cls',
      cls,
      `a class whose instances keep their data in their own properties; ${cls.name || name} extends ${builtIn}, whose contents would not ` +
        `travel (wrap one instead of extending it)`,
    );
  }
  if (bundle !== null) {
    // Two of the bundle's modules may each have a class of this name; both
    // sides of a bundle register them in the same order, so numbering them agrees.
    const base = name;
    for (let n = 2; (tables.byName.get(`${module}#${name}`)?.cls ?? cls) !== cls; n++) name = `${base}~${n}`;
  }
  const registration: Registration = { module, name, cls, exported: undefined, exportNames: [] };
  tables.byPrototype.set(cls.prototype as object, registration);
  // The first wins: a module evaluated twice (a test runner that transforms
  // it beside Node's own copy) keeps rebuilding the instances its importer sees.
  const key = `${module}#${name}`;
  if (!tables.byName.has(key)) tables.byName.set(key, registration);
  if (bundle === null) checkExport(registration);
  return cls;
}

/**
 * Reads the module's exports once it has finished loading (registerClass
 * usually runs while it is being evaluated; a CommonJS module must not be
 * imported from inside its own evaluation), so that a class the module does
 * not export is refused as it is sent, not only when a receiver misses it.
 * Found by name, not identity, for the same reason the first registration wins.
 */
function checkExport(registration: Registration): void {
  // Not unref'd: Deno never runs an unref'd immediate in a worker waiting on its port.
  const checking = new Promise<void>((resolve) => setImmediate(resolve))
    .then(() => import(/* webpackIgnore: true */ registration.module) as Promise<Record<string, unknown>>)
    .then(
      (namespace) => {
        const found = exportOf(namespace, registration.name);
        registration.exported = typeof found === 'function' && (found === registration.cls || found.name === registration.cls.name);
        if (!registration.exported) registration.exportNames = Object.keys(namespace).filter((key) => key !== 'default');
      },
      () => {
        // Unreadable here (a bundle, a loader): a receiver that cannot find the class says so.
      },
    )
    .finally(() => tables.checking.delete(checking));
  tables.checking.add(checking);
}

/**
 * Settles once the export checks of the classes registered so far are done:
 * a worker waits for it after loading a task module, so the classes that
 * module registered are known exported (or not) before its first call runs.
 */
export function classesChecked(): Promise<void> | null {
  return tables.checking.size === 0 ? null : Promise.all(tables.checking).then(() => undefined);
}

/** The registration of instances whose prototype is `proto`, if their class was registered in this thread. */
export function registrationOf(proto: object): Registration | undefined {
  return tables.byPrototype.get(proto);
}

export function isClassMarker(value: object): value is ClassMarker {
  return typeof (value as Partial<ClassMarker>)[CLASS_MARKER] === 'string';
}

/** Why a registered class cannot be sent, or null when it can. */
export function cannotSend(registration: Registration): string | null {
  return registration.exported === false ? notExported(registration.module, registration.name, registration.exportNames) : null;
}

/** The marker for `instance` (its data filled in by the caller, which encodes each value). */
export function classMarker(registration: Registration): ClassMarker {
  return { [CLASS_MARKER]: registration.module, name: registration.name, data: {} };
}

/**
 * The class a marker names, in this thread: the registered one when its module
 * is already loaded here (the usual case: the task's module imports it),
 * else found among the exports of the module, loaded now. Throws
 * SerializationError naming the class when neither finds it.
 */
export function classOf(marker: ClassMarker, path: string): Function {
  const module = marker[CLASS_MARKER];
  const name = marker.name;
  const registered = tables.byName.get(`${module}#${name}`);
  if (registered !== undefined) {
    const why = cannotSend(registered);
    if (why !== null) throw new SerializationError(-1, path, why);
    return registered.cls;
  }
  const namespace = load(module, name, path);
  const found = exportOf(namespace, name);
  if (typeof found !== 'function' || typeof found.prototype !== 'object') {
    throw new SerializationError(-1, path, notExported(module, name, Object.keys(namespace)));
  }
  return found;
}

/**
 * A receiver that never loaded the class's module loads it synchronously:
 * arguments are rebuilt just before the call starts, with no turn of the
 * event loop to wait on. require() loads CommonJS, and ES modules too on
 * Node 20.19+ / 22.12+ (sharing the module cache with import()).
 */
function load(module: string, name: string, path: string): Record<string, unknown> {
  let namespace = tables.loaded.get(module);
  if (namespace === undefined) {
    try {
      const file = fileURLToPath(module);
      namespace = requireFrom(file)(file) as Record<string, unknown>;
    } catch (error) {
      namespace = error instanceof Error ? error : new Error(String(error));
    }
    tables.loaded.set(module, namespace);
  }
  if (namespace instanceof Error) {
    throw new SerializationError(
      -1,
      path,
      `class '${name}' of ${module} was not loaded here, and loading its module failed (${namespace.message}); import that module from ` +
        `the task's module, so it is loaded before calls arrive`,
      { cause: namespace },
    );
  }
  return namespace;
}

/** An export of an ES module, or of a CommonJS module (whose exports arrive as `default` through import()). */
function exportOf(namespace: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(namespace, name)) return namespace[name];
  const fallback = namespace.default as Record<string, unknown> | null | undefined;
  if (fallback !== null && (typeof fallback === 'object' || typeof fallback === 'function') && Object.hasOwn(fallback, name))
    return fallback[name];
  return undefined;
}

function notExported(module: string, name: string, exportNames: string[]): string {
  const list = exportNames.length > 0 ? exportNames.map((n) => `'${n}'`).join(', ') : 'nothing';
  return (
    `class '${name}' is registered with registerClass from ${module}, but that module does not export it under that name (it ` +
    `exports ${list}); export the class, or pass the name it is exported under as registerClass's third argument`
  );
}

/** The built-in class `proto` inherits from (whose internal contents structured clone would have to copy), if any. */
function builtInBase(proto: object): string | null {
  for (let p: object | null = proto; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    const ctor = (p as { constructor?: unknown }).constructor;
    if (typeof ctor === 'function' && /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(ctor))) return ctor.name;
  }
  return null;
}

function normalizeModule(moduleUrl: unknown): string {
  if (typeof moduleUrl === 'string') {
    if (moduleUrl.startsWith('file:')) return new URL(moduleUrl).href;
    if (isAbsolute(moduleUrl)) return pathToFileURL(moduleUrl).href;
  }
  throw new InvalidOptionError(
    'moduleUrl',
    moduleUrl,
    'the URL or path of the module that exports the class: import.meta.url (ES modules) or __filename (CommonJS)',
  );
}
