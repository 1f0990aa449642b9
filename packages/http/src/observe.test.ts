import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { Metrics, RecentCounts, observe } from './observe.ts';

describe('observe', () => {
  it('counts each answered request in its own series, errors apart, latency per operation', async () => {
    const metrics = new Metrics();
    const app = new Hono();
    app.use(observe('ovh', { metrics }));
    app.get('/v1/key/:id', (c) => (c.req.param('id') === 'gone' ? c.json({ error: 'no' }, 404) : c.json({ ok: true })));
    for (const id of ['a', 'b', 'gone', 'c']) await app.request(`/v1/key/${id}`);
    await app.request('/nowhere');
    const text = (await metrics.render()).body;
    expect(text).toContain('polykms_requests_total{dialect="ovh",operation="GET /v1/key/:id",status="200"} 3');
    expect(text).toContain('polykms_requests_total{dialect="ovh",operation="GET /v1/key/:id",status="404"} 1');
    expect(text).toContain('polykms_requests_total{dialect="ovh",operation="GET unmatched",status="404"} 1');
    expect(text).toContain('polykms_request_errors_total{dialect="ovh",operation="GET /v1/key/:id",status="404"} 1');
    expect(text).not.toMatch(/polykms_request_errors_total\{[^}]*status="200"\}/);
    expect(text).toContain('polykms_request_duration_seconds_count{dialect="ovh",operation="GET /v1/key/:id"} 4');
  });

  it('keeps the last hour per minute and dialect for the console: quiet minutes are zero, older ones fall off', async () => {
    let now = Date.parse('2026-03-01T10:00:30Z');
    const metrics = new Metrics({ now: () => now });
    const app = new Hono();
    app.use(observe('huawei', { metrics }));
    app.get('/ok', (c) => c.text('ok'));
    await app.request('/ok');
    await app.request('/nowhere');
    now += 2 * 60_000;
    await app.request('/ok');
    let snap = metrics.recent.snapshot();
    expect(snap.minutes).toBe(60);
    expect(snap.from).toBe('2026-03-01T09:03:00.000Z');
    expect(snap.dialects.huawei!.requests.slice(-3)).toEqual([2, 0, 1]);
    expect(snap.dialects.huawei!.errors.slice(-3)).toEqual([1, 0, 0]);
    expect(snap.dialects.huawei!.requests.slice(0, -3).every((n) => n === 0)).toBe(true);
    // An hour later the 10:00 minute is gone, even though its slot is reused.
    now += 58 * 60_000;
    snap = metrics.recent.snapshot();
    expect(snap.dialects.huawei!.requests.reduce((a, b) => a + b)).toBe(1);
    now += 2 * 60_000;
    const r = new RecentCounts(3, () => now);
    r.add('cse', true);
    expect(r.snapshot().dialects.cse).toEqual({ requests: [0, 0, 1], errors: [0, 0, 1] });
    expect(metrics.recent.snapshot().dialects.huawei!.requests.every((n) => n === 0)).toBe(true);
  });
});
