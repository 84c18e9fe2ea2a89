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
    // The built package is loaded by Node itself, as users load it: a module
    // transformed by the test runner would see a rewritten import.meta.url and
    // look for its worker entry files in the wrong place.
    server: { deps: { external: [/\/dist\//] } },
  },
});
