import type { Backend } from './backend.js';
import { inlineBackend } from './inline.js';
import { processBackend } from './process.js';
import { threadBackend } from './thread.js';

/** The backends that run on this machine, by name (redis is made per pool, from its URL). */
export const LOCAL_BACKENDS: Readonly<Record<'thread' | 'process' | 'inline', Backend>> = {
  thread: threadBackend,
  process: processBackend,
  inline: inlineBackend,
};
