import { InvalidOptionError } from '../errors.js';
import type { Backend } from './backend.js';

// Placeholder until the BullMQ transport lands (issue 5): a pool with
// backend 'redis' is refused at construction, with a clear error.
export function createRedisBackend(config: { url: string; queue: string }): Backend {
  throw new InvalidOptionError('backend', 'redis', `a local backend for now: the redis backend (queue '${config.queue}') is not available in this build`);
}
