import type { Redis, RedisOptions } from 'ioredis';
import { RedisUnavailableError } from '../errors.js';
import { requireBesideTandem } from '../location.js';
import { redactUrl } from './wire.js';

/**
 * BullMQ and its Redis client are loaded on first use only, so that users of
 * the local backends never load them (nor need them installed to start, nor
 * in a bundle: a bundler does not follow this require).
 */
function load(name: 'bullmq' | 'ioredis'): unknown {
  return requireBesideTandem()(name);
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
