import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests start real threads and processes: forks isolate them from the runner's own threads.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
    // The built package and the task modules are loaded by Node itself, as a
    // user's program loads them: a module transformed by the test runner sees a
    // rewritten import.meta.url, and is a second instance beside the one Node's
    // own import() returns (the redis backend imports task modules to name them).
    server: { deps: { external: [/\/dist\//, /\/test\/fixtures\//] } },
  },
});
