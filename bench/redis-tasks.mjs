// The trivial task of bench/redis.mjs, served by `tandem worker`.
import { task } from 'tandem';

export const inc = task(import.meta.url, (n) => n + 1);
