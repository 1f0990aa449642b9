/**
 * The identity cache under load: the requests that arrive together with a certificate it does not
 * hold (a cold start, or the entry's TTL just ended) share one lookup, instead of each parsing the
 * certificate and reading the store, which stalled the event loop ~120 ms at 32 connections; and a
 * revocation still reaches the next request at once.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ACCESS_TOPIC } from '../src/store.ts';
import { call, type Creds } from './client.ts';
import { openOvh, type OvhWorld } from './setup.ts';

describe('OVH identity cache', () => {
  let w: OvhWorld;
  let okmsId: string;
  let creds: Creds & { id: string };

  beforeAll(async () => {
    w = await openOvh('pglite');
    okmsId = (await w.ctl('POST', '/v2/okms/resource', { region: 'eu-west-rbx' })).json.id;
    creds = await w.credential(okmsId, ['urn:v1:eu:identity:account:xx1111-ovh']);
  });
  afterAll(() => w?.close(), 180_000);

  const list = () => call(w.server.url, creds, 'GET', `/api/${okmsId}/v1/servicekey`);

  it('answers 16 requests that miss it together with one lookup, and looks again after a change', async () => {
    const lookups = vi.spyOn(w.kms.tenants, 'binding');
    try {
      const replies = await Promise.all(Array.from({ length: 16 }, list));
      for (const r of replies) expect(r.status, r.text).toBe(200);
      expect(lookups).toHaveBeenCalledTimes(1);
      expect((await list()).status).toBe(200);
      expect(lookups).toHaveBeenCalledTimes(1);

      await w.kms.publish(ACCESS_TOPIC, creds.id);
      expect((await list()).status).toBe(200);
      expect(lookups).toHaveBeenCalledTimes(2);
    } finally {
      lookups.mockRestore();
    }
  });

  it('refuses a revoked credential at the next request, all of a burst alike', async () => {
    expect((await list()).status).toBe(200);
    const r = await w.ctl('DELETE', `/v2/okms/resource/${okmsId}/credential/${creds.id}`);
    expect(r.status, r.text).toBeLessThan(300);
    const replies = await Promise.all(Array.from({ length: 8 }, list));
    for (const x of replies) expect(x.status, x.text).toBe(401);
  });
});
