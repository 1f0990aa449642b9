import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './testing.ts';

const RANGE = '/proc/sys/net/ipv4/ip_local_port_range';

describe('freePort', () => {
  it('gives ports outside the ephemeral range, each once, that a process can then listen on', async () => {
    const [lo, hi] = existsSync(RANGE) ? readFileSync(RANGE, 'utf8').trim().split(/\s+/).map(Number) : [32768, 60999];
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      // (A range with no room around it, 1024-65535 say, leaves ephemeral ports only.)
      if (lo! - 10_000 > 1000 || 65_535 - hi! > 1000) expect(port < lo! || port > hi!).toBe(true);
      const s = createServer();
      await new Promise<void>((res, rej) => s.once('error', rej).listen(port, '127.0.0.1', res));
      await new Promise((res) => s.close(res));
    }
  });
});
