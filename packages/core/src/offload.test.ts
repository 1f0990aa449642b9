import { constants, createHash, generateKeyPairSync, publicDecrypt, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { offload, OffloadError } from './offload.ts';

describe('crypto worker pool', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const d = Buffer.from(ec.privateKey.export({ format: 'jwk' }).d!, 'base64url');

  it('answers each request of a batch with its own result, in any mix, failures included', async () => {
    // Asked in one turn, so they travel together: each answer must reach its own caller.
    const msgs = Array.from({ length: 40 }, (_, i) => Buffer.from(`message ${i}`));
    const jobs = msgs.map((m, i) =>
      i % 3 === 0
        ? offload<Buffer>({ op: 'privateEncrypt', key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING, data: m })
        : i % 3 === 1
          ? offload<Buffer>({ op: 'ecdsaSign', curve: 'P-256', d, digest: createHash('sha256').update(m).digest(), format: 'der' })
          : offload<Buffer>({ op: 'privateEncrypt', key: rsa.privateKey, padding: constants.RSA_PKCS1_PADDING, data: Buffer.alloc(200, i) }), // too long for the key: fails
    );
    const out = await Promise.allSettled(jobs);
    out.forEach((r, i) => {
      if (i % 3 === 0) expect(publicDecrypt({ key: rsa.publicKey, padding: constants.RSA_PKCS1_PADDING }, (r as PromiseFulfilledResult<Buffer>).value).equals(msgs[i]!)).toBe(true);
      else if (i % 3 === 1) expect(verify('sha256', msgs[i]!, ec.publicKey, (r as PromiseFulfilledResult<Buffer>).value)).toBe(true);
      else {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(OffloadError);
      }
    });
  });

  it('refuses a parameter that cannot reach a worker, without stopping the others of its turn', async () => {
    // Enough requests that every worker's batch of this turn holds some next to `bad`.
    const goods = Array.from({ length: 8 }, () => offload<Buffer>({ op: 'ecdsaSign', curve: 'P-256', d, digest: createHash('sha256').update('y').digest(), format: 'der' }));
    const bad = offload({ op: 'privateEncrypt', key: () => 1, padding: 1, data: Buffer.alloc(1) } as never);
    await expect(bad).rejects.toThrow();
    // They travelled in the same turn as `bad`, and are still answered.
    const answered = (p: Promise<Buffer>) => p.then((s) => (verify('sha256', Buffer.from('y'), ec.publicKey, s) ? 'answered' : 'wrong signature'), () => 'rejected');
    const r = await Promise.race([Promise.all(goods.map(answered)), new Promise((res) => setTimeout(() => res('hung'), 5000))]);
    expect(r).toEqual(goods.map(() => 'answered'));
    // The pool still works afterwards.
    const sig = await offload<Buffer>({ op: 'ecdsaSign', curve: 'P-256', d, digest: createHash('sha256').update('x').digest(), format: 'der' });
    expect(verify('sha256', Buffer.from('x'), ec.publicKey, sig)).toBe(true);
  });
});
