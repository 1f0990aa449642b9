import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './testing.ts';

describe('freePort', () => {
  it('gives a port below the ephemeral range that a process can then listen on', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 5 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(low);
      const s = createServer();
      await new Promise<void>((res, rej) => s.once('error', rej).listen(port, '127.0.0.1', res));
      await new Promise((res) => s.close(res));
    }
  });
});
