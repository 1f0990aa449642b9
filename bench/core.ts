import { createCipheriv, createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import type { Caller, KeySpec, SignParams } from '@polykms/core';
import { cachedKey, dbOf } from '@polykms/core/testing';
import { openBenchKms } from './store.ts';
import { compare, type Row } from './harness.ts';

const signAsync = (alg: string, data: Buffer, key: KeyObject, dsaEncoding?: 'ieee-p1363') =>
  new Promise<Buffer>((res, rej) => sign(alg, data, dsaEncoding ? { key, dsaEncoding } : key, (e, s) => (e ? rej(e) : res(s))));

/** Core operations in-process next to raw node:crypto on the very same key, in one run. */
export async function benchCore(opts: { ms: number; concurrency: number }): Promise<Row[]> {
  // A throwaway database on DATABASE_URL's server when set, PGlite in a fresh data directory otherwise.
  const { kms, close } = await openBenchKms('core');
  const t = await kms.tenants.create('bench');
  const c: Caller = { tenantId: t.id, dialect: 'bench', principal: 'bench' };
  const make = async (spec: KeySpec) => {
    const k = await kms.createKey(c, { name: 'bench', spec });
    return k.id;
  };
  const loaded = (id: string, v = 1) => cachedKey(kms, t.id, id, v)!;
  const rows: Row[] = [];
  const msg = randomBytes(256);

  const rsa = await make({ kind: 'RSA', size: 2048 });
  const rs256: SignParams = { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  await kms.sign(c, rsa, rs256, msg);
  const rsaKey = loaded(rsa).key;
  rows.push(
    await compare(
      'core.sign.RS256',
      'node:crypto sign (async)',
      () => signAsync('sha256', msg, rsaKey),
      () => kms.sign(c, rsa, rs256, msg),
      opts,
    ),
  );

  const ec = await make({ kind: 'EC', curve: 'P-256' });
  const es256: SignParams = { scheme: 'ECDSA', hash: 'SHA-256', ecdsaFormat: 'p1363' };
  await kms.sign(c, ec, es256, msg);
  const ecKey = loaded(ec).key;
  rows.push(
    await compare(
      'core.sign.ES256',
      'node:crypto sign (async)',
      () => signAsync('sha256', msg, ecKey, 'ieee-p1363'),
      () => kms.sign(c, ec, es256, msg),
      opts,
    ),
  );

  // ECDSA over a given digest runs on @noble/curves (Node's sign always hashes): next to noble's own
  // signature on this thread, what bounds the row is visible.
  const digest = createHash('sha256').update(msg).digest();
  const es256digest: SignParams = { ...es256, prehashed: true };
  await kms.sign(c, ec, es256digest, digest);
  const scalar = Buffer.from(ecKey.export({ format: 'jwk' }).d!, 'base64url');
  rows.push(
    await compare(
      'core.sign.ES256.digest',
      '@noble/curves sign alone',
      async () => p256.sign(digest, scalar, { prehash: false, lowS: false, format: 'compact', extraEntropy: true }),
      () => kms.sign(c, ec, es256digest, digest),
      opts,
    ),
  );

  const aes = await make({ kind: 'oct', size: 256 });
  const kib = randomBytes(1024);
  await kms.encrypt(c, aes, kib);
  const aesKey = loaded(aes).key;
  const gcm = (pt: Buffer) => {
    const cph = createCipheriv('aes-256-gcm', aesKey, randomBytes(12));
    return Promise.resolve(Buffer.concat([cph.update(pt), cph.final(), cph.getAuthTag()]));
  };
  rows.push(
    await compare(
      'core.encrypt.1KiB',
      'node:crypto aes-256-gcm',
      () => gcm(kib),
      () => kms.encrypt(c, aes, kib),
      opts,
    ),
  );
  rows.push(
    await compare(
      'core.datakey',
      'node:crypto random+gcm',
      () => gcm(randomBytes(32)),
      () => kms.generateDataKey(c, aes, 32),
      opts,
    ),
  );

  // The audit trail's group commit alone: events recorded by 1, 8 and 32 concurrent callers, each
  // waiting until its event is durable, next to one store statement each (the floor of any statement, a write's commit aside).
  const event = () => ({
    at: new Date(),
    tenantId: t.id,
    dialect: 'bench',
    principal: 'bench',
    action: 'key.encrypt',
    keyId: aes,
    outcome: 'allowed' as const,
    requestId: 'bench',
    details: { bytes: 1024 },
  });
  const store = dbOf(kms);
  for (const concurrency of [1, 8, 32]) {
    const before = { batches: kms.audit.batches, written: kms.audit.written };
    const row = await compare(
      `core.audit.record.x${concurrency}`,
      'one store statement (select 1)',
      () => store.selectNoFrom((eb) => eb.lit(1).as('one')).execute(),
      () => kms.audit.record(event()),
      { ...opts, concurrency },
    );
    const perBatch = (kms.audit.written - before.written) / (kms.audit.batches - before.batches);
    console.error(`core: audit with ${concurrency} callers: ${perBatch.toFixed(1)} events a batch`);
    rows.push(row);
  }

  await close();
  return rows;
}
