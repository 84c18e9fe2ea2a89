import { defineConfig } from 'tsup';

// Worker entry files are their own entries: a thread or child process loads them
// by path, so they must exist as files next to the package root build.
const entry = {
  index: 'src/index.ts',
  'worker/thread-entry': 'src/worker/thread-entry.ts',
  'worker/process-entry': 'src/worker/process-entry.ts',
  'worker/share-server-entry': 'src/worker/share-server-entry.ts',
  'share/redis/entry': 'src/share/redis/entry.ts',
};

export default defineConfig([
  {
    entry: { ...entry, 'cli/index': 'src/cli/index.ts', 'redis/worker-main': 'src/redis/worker-main.ts' },
    format: ['esm'],
    outDir: 'dist/esm',
    target: 'node20',
    dts: { entry: { index: 'src/index.ts' } },
    sourcemap: true,
    clean: true,
    splitting: true,
  },
  {
    entry,
    format: ['cjs'],
    outDir: 'dist/cjs',
    target: 'node20',
    dts: { entry: { index: 'src/index.ts' } },
    sourcemap: true,
    clean: true,
    shims: true,
    outExtension: () => ({ js: '.cjs' }),
  },
]);
