// How replica events are logged (issue 13 §4): an Inactivity event (a primary replaced by a view
// change, e.g. a planned restart) is not a slashing event, and no line carries the `validator`
// key twice (the logger already puts this node's own id there).
import { describe, expect, it } from 'vitest';
import { eventLogLine, faultToleranceOf } from '../src/runtime/validator-node.js';

describe('replica event log lines', () => {
  it('logs Inactivity at info as a leader replacement, not as slashing', () => {
    const l = eventLogLine({ kind: 'slash', reason: 'Inactivity', validator: 0, detail: 'primary of view 0 replaced by view 1' });
    expect(l.level).toBe('info');
    expect(l.msg).not.toMatch(/slash|byzantine/i);
    expect(l.fields).toEqual({ replaced_primary: 0, detail: 'primary of view 0 replaced by view 1' });
    expect(l.fields).not.toHaveProperty('validator');
  });

  it('names the offender of real misbehaviour under its own key', () => {
    const names = (i: number) => `validator-00${i + 1}`;
    const l = eventLogLine({ kind: 'slash', reason: 'InvalidVote', validator: 2, detail: 'bad signature on prepare seq 4' }, names);
    expect(l.level).toBe('warn');
    expect(l.msg).toMatch(/slashing/);
    expect(l.fields).toEqual({ reason: 'InvalidVote', offender: 'validator-003', detail: 'bad signature on prepare seq 4' });
    expect(l.fields).not.toHaveProperty('validator');
    expect(eventLogLine({ kind: 'new-view', view: 3, primary: 3 }, names).fields).toEqual({ view: 3, primary: 'validator-004' });
    expect(eventLogLine({ kind: 'dropped', from: 1, reason: 'stale' }, names).fields).toEqual({ peer: 'validator-002', reason: 'stale' });
  });

  it('counts the faulty validators a set tolerates', () => {
    const vs = (stakes: number[]) => {
      const total = stakes.reduce((a, b) => a + b, 0);
      return { validators: stakes.map((stake) => ({ stake })), faultyPowerMax: Math.floor((total - 1) / 3) };
    };
    expect(faultToleranceOf(vs([1, 1]))).toBe(0);
    expect(faultToleranceOf(vs([1, 1, 1]))).toBe(0);
    expect(faultToleranceOf(vs([1, 1, 1, 1]))).toBe(1);
    expect(faultToleranceOf(vs([1, 1, 1, 1, 1, 1, 1]))).toBe(2);
  });
});
