import { constants, createHash, publicDecrypt, randomBytes, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { offload, OffloadError } from './offload.ts';
import { generateKeyPairDetached } from '../keypair.ts';

describe('crypto worker pool', () => {
  const rsa = generateKeyPairDetached('rsa', { modulusLength: 1024 });
  const ec = generateKeyPairDetached('ec', { namedCurve: 'P-256' });

  it('answers each request of a batch with its own result, in any mix, failures included', async () => {
    // Asked in one turn, so they travel together: each answer must reach its own caller.
    const msgs = Array.from({ length: 40 }, (_, i) => Buffer.from(`message ${i}`));
    const jobs = msgs.map(
      (m, i) =>
        i % 3 === 0
          ? offload<Buffer>({
              op: 'privateEncrypt',
              key: rsa.privateKey,
              padding: constants.RSA_PKCS1_PADDING,
              data: m,
            })
          : i % 3 === 1
            ? offload<Buffer>({
                op: 'ecdsaSign',
                curve: 'P-256',
                key: ec.privateKey,
                digest: createHash('sha256').update(m).digest(),
                format: 'der',
              })
            : offload<Buffer>({
                op: 'privateEncrypt',
                key: rsa.privateKey,
                padding: constants.RSA_PKCS1_PADDING,
                data: Buffer.alloc(200, i),
              }), // too long for the key: fails
    );
    const out = await Promise.allSettled(jobs);
    out.forEach((r, i) => {
      if (i % 3 === 0)
        expect(
          publicDecrypt({ key: rsa.publicKey, padding: constants.RSA_PKCS1_PADDING }, (r as PromiseFulfilledResult<Buffer>).value).equals(
            msgs[i]!,
          ),
        ).toBe(true);
      else if (i % 3 === 1) expect(verify('sha256', msgs[i]!, ec.publicKey, (r as PromiseFulfilledResult<Buffer>).value)).toBe(true);
      else {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(OffloadError);
      }
    });
  });

  it('refuses a parameter that cannot reach a worker, without stopping the others of its turn', async () => {
    // Enough requests that every worker's batch of this turn holds some next to `bad`.
    const goods = Array.from({ length: 8 }, () =>
      offload<Buffer>({
        op: 'ecdsaSign',
        curve: 'P-256',
        key: ec.privateKey,
        digest: createHash('sha256').update('y').digest(),
        format: 'der',
      }),
    );
    const bad = offload({ op: 'privateEncrypt', key: () => 1, padding: 1, data: Buffer.alloc(1) } as never);
    await expect(bad).rejects.toThrow();
    // They travelled in the same turn as `bad`, and are still answered.
    const answered = (p: Promise<Buffer>) =>
      p.then(
        (s) => (verify('sha256', Buffer.from('y'), ec.publicKey, s) ? 'answered' : 'wrong signature'),
        () => 'rejected',
      );
    const r = await Promise.race([Promise.all(goods.map(answered)), new Promise((res) => setTimeout(() => res('hung'), 5000))]);
    expect(r).toEqual(goods.map(() => 'answered'));
    // The pool still works afterwards.
    const sig = await offload<Buffer>({
      op: 'ecdsaSign',
      curve: 'P-256',
      key: ec.privateKey,
      digest: createHash('sha256').update('x').digest(),
      format: 'der',
    });
    expect(verify('sha256', Buffer.from('x'), ec.publicKey, sig)).toBe(true);
  });
});

describe('ECDSA over a digest on the crypto workers', () => {
  it('signs from the KeyObject with @noble/curves, doing no arithmetic of its own on the scalar', async () => {
    // A hand-made construction (a related key d·w/z in BigInt arithmetic) once stood here: the
    // worker must leave every operation on the secret scalar to the audited library.
    const src = readFileSync(new URL('./offload-worker.mjs', import.meta.url), 'utf8').replace(/\/\/.*|\/\*[\s\S]*?\*\//g, '');
    expect(src).not.toMatch(/BigInt|\b\d+n\b|\bFn\b|\.inv\(|\.mul\(|createECDH/);
    for (const curve of ['P-256', 'P-384', 'P-521'] as const) {
      const k = generateKeyPairDetached('ec', { namedCurve: curve });
      const hash = { 'P-256': 'sha256', 'P-384': 'sha384', 'P-521': 'sha512' }[curve];
      const msg = Buffer.from(`a message for ${curve}`);
      const der = await offload<Buffer>({
        op: 'ecdsaSign',
        curve,
        key: k.privateKey,
        digest: createHash(hash).update(msg).digest(),
        format: 'der',
      });
      expect(verify(hash, msg, k.publicKey, der)).toBe(true);
      const raw = await offload<Buffer>({
        op: 'ecdsaSign',
        curve,
        key: k.privateKey,
        digest: createHash(hash).update(msg).digest(),
        format: 'compact',
      });
      expect(verify(hash, msg, { key: k.publicKey, dsaEncoding: 'ieee-p1363' }, raw)).toBe(true);
    }
  });
});

describe('P-256 signatures on the crypto workers', () => {
  it('signs a message in DER and in IEEE P1363 form, each verifying with node:crypto, fresh each time', async () => {
    const ec = generateKeyPairDetached('ec', { namedCurve: 'P-256' });
    const msg = Buffer.from('a message, hashed by OpenSSL in the worker');
    const der = await offload<Buffer>({ op: 'sign', alg: 'sha256', key: ec.privateKey, data: msg, dsaEncoding: 'der' });
    const raw = await offload<Buffer>({
      op: 'sign',
      alg: 'sha256',
      key: ec.privateKey,
      data: msg,
      dsaEncoding: 'ieee-p1363',
    });
    expect(der[0]).toBe(0x30);
    expect(raw).toHaveLength(64);
    expect(verify('sha256', msg, ec.publicKey, der)).toBe(true);
    expect(verify('sha256', msg, { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, raw)).toBe(true);
    expect(verify('sha256', Buffer.from('another message'), { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, raw)).toBe(false);
    const again = await offload<Buffer>({
      op: 'sign',
      alg: 'sha256',
      key: ec.privateKey,
      data: msg,
      dsaEncoding: 'ieee-p1363',
    });
    expect(again.equals(raw)).toBe(false);
  });
});
