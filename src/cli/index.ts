#!/usr/bin/env node
/**
 * The `tandem` command (bin). This file is also the module that workers
 * import to find the built-in workload tasks of `tandem compare`: tsup bundles
 * src/cli/workloads.ts into this entry, so the tasks' `import.meta.url` is this
 * bundle, and they must be exported from here. A worker importing it must not
 * run the command again, hence the isWorker() guard.
 */
import { isWorker } from '../index.js';
import { main } from './program.js';

export { countPrimes, hashChain, readAndWait } from './workloads.js';

if (!isWorker()) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`tandem: ${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
