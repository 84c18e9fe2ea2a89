// The auto backend's first decision, from the shares its probe calls measured
// (src/auto/profile.ts). A loaded machine adds busy time to a measure, never
// idle time, so a task that only waits must not be called CPU-bound because
// some of its probes were slowed down.
import { describe, expect, it } from 'vitest';
import { PROBE_CALLS, TaskProfile } from '../../src/auto/profile.js';

/** A profile fed with probe calls of 20 ms wall time at the given busy shares. */
function probed(shares: number[], isolate = false): TaskProfile {
  const profile = new TaskProfile('task', isolate);
  for (const share of shares) profile.record(20, 20 * share, 8);
  return profile;
}

describe('the first decision of backend: auto', () => {
  it(`waits for ${PROBE_CALLS} probe calls`, () => {
    expect(probed([0.02, 0.03]).explain().backend).toBe('undecided');
  });

  it('calls a task I/O-bound when one probe shows it waits, however busy the other probes looked', () => {
    const explained = probed([0.45, 0.03, 0.6]).explain();
    expect(explained).toMatchObject({ backend: 'inline', samples: 3 });
    expect(explained.cpuShare).toBeCloseTo(0.03);
    expect(explained.reason).toMatch(/^I\/O-bound: its event loop was busy only 3%/);
  });

  it('calls a task CPU-bound when every probe kept its loop busy', () => {
    const explained = probed([0.97, 0.55, 1]).explain();
    expect(explained).toMatchObject({ backend: 'thread' });
    expect(explained.reason).toMatch(/^CPU-bound: its event loop was busy 55%/);
    expect(probed([0.97, 0.55, 1], true).explain().backend).toBe('process');
  });

  it('after the first decision follows a change of behaviour, with hysteresis', () => {
    const profile = probed([0.02, 0.03, 0.04]);
    expect(profile.explain().backend).toBe('inline');
    // One busy resample does not move it; a run of them does.
    expect(profile.record(20, 20, 8)).toBe(false);
    expect(profile.explain().backend).toBe('inline');
    for (let n = 0; n < 4; n++) profile.record(20, 20, 8);
    expect(profile.explain()).toMatchObject({ backend: 'thread', changes: 1 });
  });
});
