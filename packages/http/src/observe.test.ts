import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { Metrics, observe } from './observe.ts';

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
});
