import { registerRootKeys } from './rootkeys-store.ts';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KmsError } from './errors.ts';
import { Kms, type Caller } from './kms.ts';
import { rotateRootKey } from './rotation.ts';
import { loadKeyring, makeKeyring, materialAad, openMaterial, rootKeyFromBytes, sealMaterial } from './rootkey.ts';
import { backends, createTestDatabase, openTestKms, silentLogger, dbOf } from './testing.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'polykms-rk-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('root key configuration', () => {
  it('generates a development root key in the data directory, 0600, with a warning, and reuses it', () => {
    const dir = tmp();
    const warnings: string[] = [];
    const k1 = loadKeyring({ dataDir: dir, warn: (m) => warnings.push(m) });
    const file = join(dir, 'root.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(warnings[0]).toMatch(/generated a development root key/);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length).toBe(32);
    const k2 = loadKeyring({ dataDir: dir, warn: (m) => warnings.push(m) });
    expect(k2.current.id).toBe(k1.current.id);
    expect(warnings.length).toBe(1);
  });

  it('reads POLYKMS_ROOT_KEY and a key file, and refuses keys that are not 32 bytes of base64', () => {
    const secret = randomBytes(32);
    expect(loadKeyring({ rootKey: secret.toString('base64') }).current.id).toBe(rootKeyFromBytes(secret).id);
    const f = join(tmp(), 'rk');
    writeFileSync(f, `${secret.toString('base64')}\n`);
    expect(loadKeyring({ rootKeyFile: f }).current.id).toBe(rootKeyFromBytes(secret).id);
    expect(() => loadKeyring({ rootKey: randomBytes(16).toString('base64') })).toThrow(/decodes to 16 bytes/);
    expect(() => loadKeyring({ rootKey: 'not base64!' })).toThrow(KmsError);
  });

  it('binds material to tenant, key and version', () => {
    const kr = makeKeyring(rootKeyFromBytes(randomBytes(32)));
    const sealed = sealMaterial(kr.current, Buffer.from('material'), materialAad('t', 'k', 1));
    expect(openMaterial(kr, kr.current.id, sealed, materialAad('t', 'k', 1)).toString()).toBe('material');
    expect(() => openMaterial(kr, kr.current.id, sealed, materialAad('t', 'k', 2))).toThrow(/does not authenticate/);
    expect(() => openMaterial(kr, kr.current.id, sealed, materialAad('t2', 'k', 1))).toThrow(/does not authenticate/);
    expect(() => openMaterial(kr, 'rk_unknown', sealed, materialAad('t', 'k', 1))).toThrow(/not configured/);
  });
});

describe.each(backends())('root key rotation on %s', (backend) => {
  it('re-wraps every version, survives a crash mid-way, and keeps old and new rows readable', async () => {
    const db = await createTestDatabase(backend);
    const oldKr = makeKeyring(rootKeyFromBytes(randomBytes(32)));
    // A persistent PGlite directory stands in for "the same database after a restart".
    const dataDir = tmp();
    const open = (keyring: typeof oldKr) => Kms.open({ databaseUrl: db.url, dataDir, keyring, logger: silentLogger() });
    let kms = await open(oldKr);
    const t = await kms.tenants.create('rot');
    const c: Caller = { tenantId: t.id, dialect: 'test', principal: 'op' };
    const samples: { ct: Buffer; pt: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const k = await kms.createKey(c, { name: `k${i}`, spec: { kind: 'oct', size: 256 } });
      if (i % 3 === 0) await kms.rotate(c, k.id);
      const pt = `secret ${i}`;
      samples.push({ ct: (await kms.encrypt(c, k.id, Buffer.from(pt))).ciphertext, pt });
    }
    await kms.secrets.put('test/ca-key', Buffer.from('gateway secret'));
    await kms.close();

    // Without the old root key, the store refuses to start instead of failing on first use.
    const newRoot = rootKeyFromBytes(randomBytes(32));
    await expect(open(makeKeyring(newRoot))).rejects.toThrow(/not configured/);

    const both = makeKeyring(newRoot, [oldKr.current]);
    kms = await open(both);
    let batches = 0;
    await expect(
      rotateRootKey(kms, {
        batchSize: 4,
        afterBatch: (n) => {
          batches = n;
          if (n === 2) throw new Error('simulated crash');
        },
      }),
    ).rejects.toThrow('simulated crash');
    expect(batches).toBe(2);
    const mixed = await dbOf(kms).selectFrom('key_versions').select(['root_key_id']).execute();
    expect(new Set(mixed.map((r) => r.root_key_id))).toEqual(new Set([oldKr.current.id, newRoot.id]));
    kms.cache.clear();
    for (const s of samples) expect((await kms.decrypt(c, s.ct)).plaintext.toString()).toBe(s.pt);
    await kms.close();

    // Restart and resume: only what is left is done, then every row is under the new key.
    kms = await open(both);
    const progress: number[] = [];
    const res = await rotateRootKey(kms, { batchSize: 4, onProgress: (p) => progress.push(p.done) });
    // The 8 versions left, plus the sealed secrets: the test one and the audit chain key.
    expect(res.done).toBe(16 - 8 + 2);
    expect(progress.at(-1)).toBe(8);
    const after = await dbOf(kms).selectFrom('key_versions').select(['root_key_id']).execute();
    expect(after.every((r) => r.root_key_id === newRoot.id)).toBe(true);
    await kms.close();

    // The old root key can now be dropped.
    kms = await open(makeKeyring(newRoot));
    for (const s of samples) expect((await kms.decrypt(c, s.ct)).plaintext.toString()).toBe(s.pt);
    expect((await kms.secrets.get('test/ca-key'))!.toString()).toBe('gateway secret');
    expect((await rotateRootKey(kms)).done).toBe(0);
    await kms.close();
    await db.drop();
  }, 240_000); // a store opened six times: minutes on a loaded machine

  it('refuses a root key whose id is recorded with another check value', async () => {
    const { kms, drop } = await openTestKms(backend);
    await dbOf(kms).updateTable('root_keys').set({ check_value: 'tampered' }).execute();
    await expect(registerRootKeys(dbOf(kms), kms.keyringForRotation)).rejects.toThrow(/does not match/);
    await kms.close();
    await drop();
  });
});
