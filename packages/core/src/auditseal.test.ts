import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventMac, link, sealBatch } from './auditseal.ts';

const eventsOf = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    at: new Date(Date.UTC(2026, 10, 29, 3, 0, i, i)),
    tenant_id: i % 4 ? '6f1f5f0e-8a4b-4c1e-9d3a-2b7c0e5f1a90' : null,
    dialect: 'test',
    principal: `p${i} "quoted" é🔑`,
    action: 'key.encrypt',
    key_id: null,
    outcome: 'allowed',
    error_kind: i % 5 ? null : 'invalid_argument',
    request_id: `r${i}`,
    details: i % 3 ? { z: i, a: [1, { y: 'x', b: null }] } : null,
  }));

describe('sealBatch', () => {
  it('seals a batch as documented: MACs, links, JSON and head', async () => {
    const key = randomBytes(32);
    const head = { seq: '41', chain: randomBytes(32) };
    const events = eventsOf(600);
    const sealed = await sealBatch(key, head, events);
    expect(sealed.seq).toBe('641');
    // The chain is the documented one: each link over the previous link, the number and the MAC.
    let chain: Buffer = head.chain;
    const expected = events.map((e, i) => {
      const mac = eventMac(key, e);
      chain = link(key, chain, 42n + BigInt(i), mac);
      return { ...e, mac: mac.toString('hex'), seq: String(42 + i), chain: chain.toString('hex') };
    });
    expect(Buffer.from(sealed.chain).equals(chain)).toBe(true);
    // The JSON text is each event's columns and its three seal columns, as JSON.stringify writes them.
    expect(sealed.rows).toBe(JSON.stringify(expected));
    const rows = JSON.parse(sealed.rows) as { mac: string; seq: string; details: unknown }[];
    expect(rows.map((r) => r.seq)).toEqual(events.map((_, i) => String(42 + i)));
    expect(rows[1]!.mac).toBe(eventMac(key, events[1]!).toString('hex'));
    expect(rows[1]!.details).toEqual({ z: 1, a: [1, { y: 'x', b: null }] });
  });

  it('hands the turn back every 256 seals, so a large batch lets other work run and a small one does not', async () => {
    const key = randomBytes(32);
    const head = { seq: '0', chain: randomBytes(32) };
    // How many turns of the event loop pass while `n` events are sealed.
    const turnsDuring = async (n: number) => {
      let turns = 0;
      let sealing = true;
      const tick = () => {
        if (!sealing) return;
        turns++;
        setImmediate(tick);
      };
      setImmediate(tick);
      await sealBatch(key, head, eventsOf(n));
      sealing = false;
      return turns;
    };
    expect(await turnsDuring(600)).toBe(2); // yields before events 256 and 512
    expect(await turnsDuring(513)).toBe(2);
    expect(await turnsDuring(512)).toBe(1);
    expect(await turnsDuring(30)).toBe(0);
  });
});
