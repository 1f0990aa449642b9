import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditTrail } from './audit.ts';
import { AuthFailures } from './authfail.ts';
import { silentLogger } from './testing.ts';

/** A trail that keeps what it is given, and a clock moved by hand. */
function setup(opts = { burst: 3, perMinute: 6, maxSources: 2, summaryMs: 60_000 }) {
  const events: AuditEvent[] = [];
  const trail = { record: (e: AuditEvent) => (events.push(e), Promise.resolve()) } as unknown as AuditTrail;
  let t = 1_000_000;
  const f = new AuthFailures(trail, silentLogger(), opts, () => t);
  return { f, events, tick: (ms: number) => (t += ms) };
}

const refusal = (source: string, n = 0) => ({
  dialect: 'ovh',
  source,
  reason: `bad certificate ${n}`,
  requestId: `r${n}`,
});

describe('authentication refusals', () => {
  it('audits each refusal up to the burst, counts the rest, and writes their count as one summary when the source has room again', () => {
    const { f, events, tick } = setup();
    for (let i = 0; i < 10; i++) f.refused(refusal('10.0.0.1', i));
    expect(f.counts).toEqual({ ovh: 10 });
    expect(f.suppressed).toBe(7);
    expect(events.map((e) => e.action)).toEqual(['auth.refused', 'auth.refused', 'auth.refused']);
    expect(events[0]).toMatchObject({
      dialect: 'ovh',
      outcome: 'denied',
      errorKind: 'unauthenticated',
      principal: 'anonymous',
      requestId: 'r0',
      details: { source: '10.0.0.1', reason: 'bad certificate 0' },
    });
    tick(10_000); // one token back (6 a minute)
    f.refused(refusal('10.0.0.1', 10));
    expect(events.slice(3).map((e) => [e.action, e.details?.refused])).toEqual([
      ['auth.refused_summary', 7],
      ['auth.refused', undefined],
    ]);
    // Another source has its own bound.
    f.refused(refusal('10.0.0.2'));
    expect(events.at(-1)!.details).toMatchObject({ source: '10.0.0.2' });
  });

  it('summarizes on its tick what a source that went quiet left over the bound, and forgets quiet sources', () => {
    const { f, events, tick } = setup();
    for (let i = 0; i < 5; i++) f.refused(refusal('10.0.0.1', i));
    f.sweep();
    expect(events.map((e) => [e.action, e.details?.refused])).toEqual([
      ['auth.refused', undefined],
      ['auth.refused', undefined],
      ['auth.refused', undefined],
      ['auth.refused_summary', 2],
    ]);
    f.sweep();
    expect(events).toHaveLength(4);
    tick(60_000);
    f.sweep();
    f.refused(refusal('10.0.0.1'));
    expect(events.at(-1)!.action).toBe('auth.refused');
    f.close();
  });

  it('puts sources past its limit under one shared bound, so many addresses cannot fill the trail either', () => {
    const { f, events } = setup({ burst: 1, perMinute: 1, maxSources: 2, summaryMs: 60_000 });
    for (let i = 0; i < 50; i++) f.refused(refusal(`10.0.1.${i}`, i));
    // Two sources followed one by one, everything else shares one bucket: three events, the rest counted.
    expect(events).toHaveLength(3);
    expect(f.suppressed).toBe(47);
    f.sweep();
    expect(events.at(-1)).toMatchObject({ action: 'auth.refused_summary', details: { source: '*', refused: 47 } });
    f.close();
  });

  it('cuts a long reason and principal (they can carry what the client sent)', () => {
    const { f, events } = setup();
    f.refused({ dialect: 'huawei', source: 'x', reason: 'r'.repeat(5000), principal: 'p'.repeat(5000) });
    expect(String(events[0]!.details!.reason).length).toBeLessThan(310);
    expect(events[0]!.principal.length).toBeLessThan(210);
  });
});
