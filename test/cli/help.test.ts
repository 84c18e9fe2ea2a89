import { afterEach, describe, expect, it } from 'vitest';
import { cleanupCli, runCli } from './helpers.js';

afterEach(cleanupCli);

describe('tandem --help', () => {
  it.each([[['--help']], [['compare', '--help']], [['run', '--help']], [['worker', '--help']], [['help', 'run']]])('%j shows usage with an example', async (args) => {
    const { code, stdout } = await runCli(args);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: tandem');
    expect(stdout).toContain('Examples:');
    expect(stdout).toMatch(/\$ tandem (compare|run|worker)/);
  });

  it('rejects an unknown option with a usage error', async () => {
    const { code, stderr } = await runCli(['run', './x.mjs#y', '--workers', 'many']);
    expect(code).toBe(2);
    expect(stderr).toContain('--workers');
  });
});
