/**
 * A large body over curl: curl sends `Expect: 100-continue` and waits. Every listener of the gateway
 * answers an oversized Content-Length with its dialect's 413 before asking for the body, so the client
 * reads the refusal instead of a reset in the middle of its upload. The admin API bounds bodies too.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../src/config.ts';
import { startGateway } from '../src/gateway.ts';
import { ADMIN_MAX_BODY } from '../src/admin/index.ts';

type Gateway = Awaited<ReturnType<typeof startGateway>>;

/** One raw HTTP/1.1 exchange over TLS: what the server wrote until it closed or `done` matched. */
async function exchange(url: string, ca: string, head: string, body?: Buffer, done = /\r\n\r\n[\s\S]*\}/): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: '127.0.0.1', port: Number(port), ca, servername: hostname });
  await new Promise<void>((res, rej) => socket.once('secureConnect', res).once('error', rej));
  return new Promise<string>((res) => {
    let got = '';
    const finish = () => {
      socket.destroy();
      res(got);
    };
    socket.on('data', (d) => {
      got += d;
      if (done.test(got.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''))) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.write(head);
    if (body) socket.write(body);
  });
}

describe('large bodies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-large-'));
  let gw: Gateway;
  let ca: string;
  beforeAll(async () => {
    const cfg = {
      ...configFromEnv({
        POLYKMS_DATA_DIR: dir,
        POLYKMS_ADMIN_PORT: '0',
        POLYKMS_OVH_PORT: '0',
        POLYKMS_HUAWEI_PORT: '0',
        POLYKMS_CSE_PORT: '0',
      }),
      databaseUrl: undefined,
    };
    gw = await startGateway(cfg, pino({ level: 'silent' }));
    ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  }, 120_000);
  afterAll(async () => {
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const TEN_MB = 10 * 1024 * 1024;
  const expectContinue = (path: string, extra = '') =>
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${TEN_MB}\r\nExpect: 100-continue\r\n${extra}\r\n`;

  it('Huawei: 413 APIGW.0201 before the body is sent', async () => {
    const got = await exchange(gw.urls.huawei!, ca, expectContinue('/v1.0/0123456789abcdef0123456789abcdef/kms/encrypt-data'));
    expect(got).toMatch(/^HTTP\/1\.1 413 /);
    expect(got).not.toContain('100 Continue');
    expect(got).toContain('"error_code":"APIGW.0201"');
  });

  it("CSE: 413 in Google's error body before the body is sent", async () => {
    const got = await exchange(gw.urls.cse!, ca, expectContinue('/v1/wrap'));
    expect(got).toMatch(/^HTTP\/1\.1 413 /);
    expect(got).not.toContain('100 Continue');
    expect(got).toMatch(/"code":413/);
  });

  it("OVH: refused in OVH's error body before the body is sent", async () => {
    const got = await exchange(gw.urls.ovh!, ca, expectContinue('/v1/servicekey'));
    expect(got).not.toContain('100 Continue');
    expect(got).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(got).toContain('"error_code":');
  });

  it('admin: 413 before the body is sent, with or without the token', async () => {
    for (const auth of ['', `Authorization: Bearer ${gw.adminToken.token}\r\n`]) {
      const got = await exchange(gw.urls.admin!, ca, expectContinue('/admin/tenants', auth));
      expect(got).toMatch(/^HTTP\/1\.1 413 /);
      expect(got).not.toContain('100 Continue');
      expect(got).toContain(`"message":"the body is larger than ${ADMIN_MAX_BODY} bytes"`);
    }
  });

  it('admin: a chunked body over the limit is refused once it passes it; one under it is read', async () => {
    const auth = `Authorization: Bearer ${gw.adminToken.token}\r\n`;
    const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
    const big = Buffer.alloc(ADMIN_MAX_BODY + 1, 0x20);
    const over = await exchange(
      gw.urls.admin!,
      ca,
      `POST /admin/tenants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n${auth}\r\n`,
      Buffer.concat([chunk(big), Buffer.from('0\r\n\r\n')]),
    );
    expect(over).toMatch(/^HTTP\/1\.1 413 /);
    const small = Buffer.from(JSON.stringify({ name: 'under-the-limit' }));
    const under = await exchange(
      gw.urls.admin!,
      ca,
      `POST /admin/tenants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${small.length}\r\nExpect: 100-continue\r\n${auth}\r\n`,
      small,
    );
    expect(under).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /);
    expect(under).toContain('"name":"under-the-limit"');
  });
});
