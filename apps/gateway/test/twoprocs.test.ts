/**
 * Two gateway processes on one PostgreSQL serve the same keys, and a change acknowledged by one is
 * enforced by the other on its very next request (no cache may answer with an older state).
 */
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { changesEnforcedAcross, poster, provision, type Side } from './consistency.ts';
import { twoGateways, type Gateway } from './two-gateways.ts';

describe.skipIf(!process.env.DATABASE_URL)('two gateway processes on one PostgreSQL', () => {
  const gw = twoGateways({ dialects: ['ovh', 'huawei'], rootKey: Buffer.alloc(32, 7), token: 'two-process-admin-token-0123456789' });
  beforeAll(() => gw.start(), 180_000);
  afterAll(() => gw.stop());

  it('a key deactivated or disabled through one is refused by the other on its very next request', async () => {
    const [a, b] = gw.procs as [Gateway, Gateway];
    const admin = async (method: string, path: string, body?: unknown) =>
      (await gw.adminFetch(a.ports.admin!, method, path, body)).json() as Promise<any>;
    const { ca, okmsId, ovhTls } = await provision(admin);
    const ovh = new Agent({ connect: ovhTls });
    const tls = new Agent({ connect: { ca, servername: 'localhost' } });
    const side = (p: Gateway): Side => ({
      ovh: `https://localhost:${p.ports.ovh}`,
      huawei: `https://localhost:${p.ports.huawei}`,
      ovhPost: poster(ovh),
      tlsPost: poster(tls),
    });
    await changesEnforcedAcross(side(a), side(b), okmsId);
    await ovh.close();
    await tls.close();
  });
});
