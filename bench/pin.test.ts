import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { createCa, loadCa, type Ca } from '@polykms/pki';
import { serveHttps, type HttpsServer } from '@polykms/http';
import { allowedCpus, canPin, checkPinned, cpuBetween, cpuSample, parseCpuList, spawnNode, threadAffinity } from './pin.ts';
import { exitOf, RemoteClient } from './load.ts';

const cpus = canPin() ? allowedCpus(process.pid) : [];

describe('CPU lists', () => {
  it('parses ranges and lists, and refuses the rest', () => {
    expect(parseCpuList('0')).toEqual([0]);
    expect(parseCpuList('1-3,0,2')).toEqual([0, 1, 2, 3]);
    for (const bad of ['', 'a', '3-1', '1,,x']) expect(() => parseCpuList(bad)).toThrow(/not a CPU list/);
  });
});

/** Where taskset or /proc is missing (not Linux, no util-linux), pinning cannot be tested: skipped. */
describe.skipIf(!canPin())('pinning (taskset)', () => {
  it('pins every thread of a child, those it starts later included, and counts its CPU', async () => {
    const cpu = cpus[0]!;
    // Threads made after start: a worker thread, libuv's pool (async scrypt), V8's helpers.
    const code = `const { Worker } = require('node:worker_threads'); const { scrypt } = require('node:crypto');
      new Worker('setInterval(() => {}, 1000)', { eval: true }).unref(); setInterval(() => {}, 1000); // alive until killed
      let n = 0; for (let i = 0; i < 8; i++) scrypt('x', 's', 32, { N: 2 ** 14 }, () => { if (++n === 8) process.send('ready'); });`;
    const child = spawnNode(['-e', code], [cpu]);
    try {
      const before = cpuSample(child.pid!);
      await new Promise((r) => child.once('message', r));
      const threads = threadAffinity(child.pid!);
      expect(threads.length).toBeGreaterThan(4);
      for (const t of threads) expect(t.cpus).toEqual([cpu]);
      expect(checkPinned('child', child.pid!, [cpu])).toMatch(/all \d+ threads on CPU/);
      const used = cpuBetween(before, cpuSample(child.pid!));
      expect(used.processUs).toBeGreaterThan(0);
      // scrypt ran on libuv's pool, not on the event loop.
      expect(used.otherThreadsUs).toBeGreaterThan(0);
      expect(Object.values(used.threads).reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(used.processUs + 1);
      // The event loop's wait for its CPU, where the kernel keeps schedstat: a count that never goes back.
      if (existsSync(`/proc/${child.pid}/task/${child.pid}/schedstat`)) expect(used.mainWaitUs).toBeGreaterThanOrEqual(0);
      // A thread allowed elsewhere is reported, naming it.
      if (cpus.length > 1) expect(() => checkPinned('child', child.pid!, [cpus[1]!])).toThrow(/threads not pinned to/);
    } finally {
      child.kill();
      await exitOf(child);
    }
  });

  describe('the load generator in its own pinned process', () => {
    let ca: Ca;
    let server: HttpsServer;
    beforeAll(async () => {
      ca = await loadCa(await createCa({ commonName: 'polykms bench pin test CA', validityDays: 3650 }));
      const app = new Hono();
      app.post('/ok', async (c) => c.json(await c.req.json()));
      server = await serveHttps(app.fetch, ca, { host: '127.0.0.1', port: 0 });
    });
    afterAll(async () => server?.close());

    it('measures from its CPU, all its threads there', async () => {
      const cpu = cpus[cpus.length - 1]!;
      const client = new RemoteClient(server.port, { ca: ca.certPem, servername: 'localhost' }, 2, { cpus: [cpu] });
      try {
        expect((await client.post('/ok', { a: 1 }).measure(2, 200)).ops).toBeGreaterThan(0);
        expect(client.pid).toBeGreaterThan(0);
        for (const t of threadAffinity(client.pid!)) expect(t.cpus).toEqual([cpu]);
      } finally {
        await client.close();
      }
    });
  });
});
