import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startGateway } from './gateway.ts';
import { configFromEnv } from './config.ts';

describe('gateway process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-gw-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts on embedded PGlite in the data directory, answers health and readiness, and stops cleanly', async () => {
    const cfg = { ...configFromEnv({ POLYKMS_DATA_DIR: dir, POLYKMS_ADMIN_PORT: '0' }), databaseUrl: undefined };
    const gw = await startGateway(cfg, pino({ level: 'silent' }));
    try {
      expect(await (await fetch(`${gw.urls.admin}/healthz`)).json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${gw.urls.admin}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', storage: 'pglite' });
      expect(statSync(join(dir, 'root.key')).mode & 0o777).toBe(0o600);
    } finally {
      await gw.close();
    }
  });

  it('refuses a bad port setting with a message naming the variable', () => {
    expect(() => configFromEnv({ POLYKMS_ADMIN_PORT: 'eighty' })).toThrow(/POLYKMS_ADMIN_PORT must be a port number/);
  });
});
