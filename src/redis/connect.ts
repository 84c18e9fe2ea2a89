import type { Redis, RedisOptions } from 'ioredis';
import { MissingDependencyError, RedisUnavailableError } from '../errors.js';
import { requireBesideTandem } from '../location.js';
import { redactUrl } from './wire.js';

/**
 * BullMQ and its Redis client are optional peer dependencies, loaded on first
 * use only: users of the local backends neither install nor load them (nor, in
 * a bundle, carry them: a bundler does not follow this require). Type imports
 * of them must stay out of the public declarations for the same reason.
 */
function load(name: 'bullmq' | 'ioredis'): unknown {
  return requireBesideTandem()(name);
}

/** The packages the redis backend needs, with the major version package.json's peerDependencies allow. */
export const REDIS_PACKAGES: readonly { name: string; version: string }[] = [
  { name: 'bullmq', version: '6' },
  { name: 'ioredis', version: '6' },
];

/**
 * Throws MissingDependencyError, with the command that installs them, unless
 * BullMQ and ioredis can be found from here. Called where the redis backend is
 * chosen, so that the error comes at `new Pool` or at the start of `tandem
 * worker`, not from a call that has already been accepted.
 */
export function requireRedisPackages(feature: string): void {
  const missing = REDIS_PACKAGES.filter((p) => !installed(p.name));
  if (missing.length > 0) throw new MissingDependencyError(feature, missing);
}

function installed(name: string): boolean {
  try {
    requireBesideTandem().resolve(name);
    return true;
  } catch (error) {
    // Anything but "not found" (a broken install, say) is left for the import itself to report as it is.
    return (error as { code?: unknown })?.code !== 'MODULE_NOT_FOUND';
  }
}

export function loadBullmq(): typeof import('bullmq') {
  return load('bullmq') as typeof import('bullmq');
}

/** A connection attempt that gets no answer within this long fails (a firewalled host never refuses). */
export const CONNECT_TIMEOUT_MS = 5_000;

/**
 * Opens a Redis connection from a `redis://` or `rediss://` URL (TLS, user and
 * password come from the URL). The first connection fails fast with
 * RedisUnavailableError instead of retrying forever, so a wrong URL is an
 * error, not a hang; once connected, a lost connection is retried with backoff
 * and commands wait for it (a Redis restart does not fail the calls in flight).
 */
export async function connectRedis(url: string, name: string): Promise<Redis> {
  const IORedis = load('ioredis') as typeof import('ioredis').default;
  let connected = false;
  let lastError: unknown = null;
  const options: RedisOptions = {
    lazyConnect: true,
    connectionName: name,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // BullMQ's blocking commands need this; commands wait out a reconnect instead of failing.
    maxRetriesPerRequest: null,
    retryStrategy: (times) => (connected ? Math.min(times * 200, 2_000) : null),
  };
  const client = new IORedis(url, options);
  // Without a listener, a connection error would be an uncaught 'error' event.
  client.on('error', (error: unknown) => {
    lastError = error;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    const cause = lastError ?? error;
    throw new RedisUnavailableError(redactUrl(url), (cause as Error)?.message ?? String(cause), { cause });
  }
  connected = true;
  return client;
}

/** Whether a connection's socket keeps the process alive (ioredis has no API for it; the socket does). */
export function refSocket(client: Redis, ref: boolean): void {
  const stream = (client as unknown as { stream?: { ref?(): void; unref?(): void } }).stream;
  if (ref) stream?.ref?.();
  else stream?.unref?.();
}
