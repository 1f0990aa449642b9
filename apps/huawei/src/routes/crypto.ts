/**
 * Huawei KMS data encryption and data keys (huawei-kms.md §2.2, §4;
 * https://support.huaweicloud.com/api-dew/EncryptData.html): EncryptData, DecryptData, CreateDatakey,
 * CreateDatakeyWithoutPlaintext, EncryptDatakey, DecryptDatakey, CreateRandom (gen-random), ReEncrypt.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { CIPHERTEXT_OVERHEAD, MAX_DATA_KEY_BYTES, type Kms, type ReEncryptSource, type ReEncryptTarget } from '@polykms/core';
import { body, caller, keyIdOf, type HuaweiContext, type Route } from '../app.ts';
import { unwrapCiphertext, wrapCiphertext } from '../envelope.ts';
import { HuaweiError } from '../errors.ts';
import * as S from '../schemas.ts';

/**
 * The AAD bound to a ciphertext: OTC's `encryption_context` (an object, keys sorted so the order a
 * client sends does not matter) and Huawei's `additional_authenticated_data`; both needed again to decrypt.
 */
export function aadOf(
  req: { encryption_context?: Record<string, unknown> | undefined; additional_authenticated_data?: string | undefined },
  domain = '',
): Buffer | undefined {
  const ctx = req.encryption_context;
  if (ctx !== undefined && JSON.stringify(ctx).length > 8192)
    throw new HuaweiError('0208', 'encryption_context is at most 8192 characters.');
  const sorted =
    ctx && Object.keys(ctx).length
      ? Object.fromEntries(
          Object.keys(ctx)
            .sort()
            .map((k) => [k, ctx[k]]),
        )
      : undefined;
  const aad = req.additional_authenticated_data || undefined;
  if (!sorted && !aad && !domain) return undefined;
  return Buffer.from(`${domain}${JSON.stringify([sorted ?? null, aad ?? null])}`, 'utf8');
}

/**
 * Data keys the KMS did not generate itself (encrypt-datakey, and create-datakey above core's data-key
 * size) are sealed with core's encrypt under this AAD prefix, so they never open as encrypt-data
 * ciphertext nor the other way round.
 */
const DEK_DOMAIN = 'huawei:datakey\0';

const DATAKEY_SPEC_BYTES: Record<string, number> = {
  AES_256: 32,
  AES_128: 16,
  HMAC_256: 32,
  HMAC_384: 48,
  HMAC_512: 64,
};
const sha256 = (b: Uint8Array) => hash('sha256', b, 'buffer');
const oaepOf = (alg: string) => ({ hash: alg === 'RSAES_OAEP_SHA_1' ? ('SHA-1' as const) : ('SHA-256' as const) });
const aad = (additional_authenticated_data: string | undefined, domain?: string) => aadOf({ additional_authenticated_data }, domain);

export function cryptoRoutes(kms: Kms, route: Route) {
  route('post', '/encrypt-data', async (c) => {
    const req = body(c, S.EncryptData);
    const keyId = await keyIdOf(kms, c, req.key_id);
    const pt = Buffer.from(req.plain_text, 'utf8');
    if (pt.length > 4096) throw new HuaweiError('2101', 'plain_text is at most 4096 bytes.');
    const alg = req.encryption_algorithm ?? 'SYMMETRIC_DEFAULT';
    if (alg === 'SM2_ENCRYPT') throw new HuaweiError('2106', 'SM2 keys are not supported here.');
    if (alg !== 'SYMMETRIC_DEFAULT') {
      const r = await kms.rsaEncrypt(caller(c), keyId, pt, { hash: alg === 'RSAES_OAEP_SHA_1' ? 'SHA-1' : 'SHA-256' });
      return c.json({ key_id: r.keyId, cipher_text: r.ciphertext.toString('base64') });
    }
    const r = await kms.encrypt(caller(c), keyId, pt, aadOf(req));
    return c.json({ key_id: r.keyId, cipher_text: wrapCiphertext(r.ciphertext, r.keyId).toString('base64') });
  });

  route('post', '/decrypt-data', async (c) => {
    const req = body(c, S.DecryptData);
    const keyRef = req.key_id === undefined ? undefined : await keyIdOf(kms, c, req.key_id);
    const blob = S.fromBase64(req.cipher_text, '2201', 'cipher_text');
    const alg = req.encryption_algorithm ?? 'SYMMETRIC_DEFAULT';
    if (alg === 'SM2_ENCRYPT') throw new HuaweiError('2106', 'SM2 keys are not supported here.');
    let keyId: string;
    let plaintext: Buffer;
    if (alg !== 'SYMMETRIC_DEFAULT') {
      // Asymmetric ciphertext carries no metadata: the key id is required (EncryptData.html).
      if (!keyRef) throw new HuaweiError('0204', 'key_id is required to decrypt with an asymmetric key.');
      const r = await kms.rsaDecrypt(caller(c), keyRef, blob, {
        hash: alg === 'RSAES_OAEP_SHA_1' ? 'SHA-1' : 'SHA-256',
      });
      ({ keyId, plaintext } = r);
    } else {
      const { coreBlob } = unwrapCiphertext(blob);
      const r = await kms.decrypt(caller(c), coreBlob, aadOf(req), keyRef ? { expectKeyId: keyRef } : {});
      ({ keyId, plaintext } = r);
    }
    return c.json({
      key_id: keyId,
      plain_text: plaintext.toString('utf8'),
      plain_text_base64: plaintext.toString('base64'),
    });
  });

  /** datakey_length (bits) wins over key_spec; neither means 256 bits (CreateDatakeyRequestBody). */
  const dataKeyBytes = (req: { key_spec?: string | undefined; datakey_length?: string | number | undefined }) => {
    if (req.datakey_length !== undefined && req.datakey_length !== '') {
      const bits = S.intOf(req.datakey_length, '1901', 'datakey_length');
      if (bits < 8 || bits > 8192) throw new HuaweiError('1901');
      if (bits % 8 !== 0) throw new HuaweiError('1903');
      return bits / 8;
    }
    if (req.key_spec === undefined) return 32;
    const n = DATAKEY_SPEC_BYTES[req.key_spec];
    if (!n)
      throw new HuaweiError(
        '1902',
        `key_spec ${req.key_spec} is not supported here; supported: ${Object.keys(DATAKEY_SPEC_BYTES).join(', ')}.`,
      );
    return n;
  };

  const createDataKey = async (c: HuaweiContext, withPlaintext: boolean) => {
    const req = body(c, S.CreateDatakey);
    const keyId = await keyIdOf(kms, c, req.key_id);
    const bytes = dataKeyBytes(req);
    if (bytes <= MAX_DATA_KEY_BYTES) {
      const r = await kms.generateDataKey(caller(c), keyId, bytes, { context: aadOf(req), withPlaintext });
      return { keyId: r.keyId, cipher: wrapCiphertext(r.ciphertext, r.keyId), plaintext: r.plaintext };
    }
    const dek = await kms.random(caller(c), bytes);
    const r = await kms.encrypt(caller(c), keyId, dek, aadOf(req, DEK_DOMAIN));
    return {
      keyId: r.keyId,
      cipher: wrapCiphertext(r.ciphertext, r.keyId),
      plaintext: withPlaintext ? dek : (dek.fill(0), undefined),
    };
  };

  route('post', '/create-datakey', async (c) => {
    const r = await createDataKey(c, true);
    return c.json({ key_id: r.keyId, plain_text: S.hexUpper(r.plaintext!), cipher_text: S.hexUpper(r.cipher) });
  });

  route('post', '/create-datakey-without-plaintext', async (c) => {
    const r = await createDataKey(c, false);
    return c.json({ key_id: r.keyId, cipher_text: S.hexUpper(r.cipher) });
  });

  route('post', '/encrypt-datakey', async (c) => {
    const req = body(c, S.EncryptDatakey);
    const keyId = await keyIdOf(kms, c, req.key_id);
    const len = S.intOf(req.datakey_plain_length, '2104', 'datakey_plain_length');
    if (len < 1 || len > 1024) throw new HuaweiError('2104', 'datakey_plain_length is 1 to 1024 bytes.');
    // plain_text = hex(DEK) || hex(SHA-256(DEK)), either case.
    const all = S.fromHex(req.plain_text, '2101', 'plain_text');
    if (all.length !== len + 32)
      throw new HuaweiError(
        '2104',
        `plain_text must be ${len} bytes of data key and its 32-byte SHA-256 digest, hex-encoded (${2 * (len + 32)} characters).`,
      );
    const dek = all.subarray(0, len);
    if (!timingSafeEqual(sha256(dek), all.subarray(len))) throw new HuaweiError('2103');
    const r = await kms.encrypt(caller(c), keyId, dek, aadOf(req, DEK_DOMAIN));
    all.fill(0);
    return c.json({
      key_id: r.keyId,
      cipher_text: S.hexUpper(wrapCiphertext(r.ciphertext, r.keyId)),
      datakey_length: String(len),
    });
  });

  route('post', '/decrypt-datakey', async (c) => {
    const req = body(c, S.DecryptDatakey);
    const keyId = await keyIdOf(kms, c, req.key_id);
    const len = S.intOf(req.datakey_cipher_length, '2204', 'datakey_cipher_length');
    if (len < 1 || len > 1024) throw new HuaweiError('2204', 'datakey_cipher_length is 1 to 1024 bytes.');
    const { coreBlob } = unwrapCiphertext(S.fromHex(req.cipher_text, '2201', 'cipher_text'));
    // Core's format byte says who made the data key: core's generator, or this dialect's sealing.
    const generated = coreBlob[0] === 0x02;
    const r = await kms.decrypt(caller(c), coreBlob, generated ? aadOf(req) : aadOf(req, DEK_DOMAIN), {
      expectKeyId: keyId,
      dataKey: generated,
    });
    if (r.plaintext.length !== len) throw new HuaweiError('2204', `The data key is ${r.plaintext.length} bytes.`);
    return c.json({
      data_key: S.hexUpper(r.plaintext),
      datakey_length: String(len),
      datakey_dgst: S.hexUpper(sha256(r.plaintext)),
    });
  });

  /**
   * ReEncrypt: encrypt-data ciphertext (base64), or data-key ciphertext (hex, with datakey_cipher_length),
   * or RSA-OAEP ciphertext under source_key_id, moved under destination_key_id by core's re-encrypt;
   * the plaintext never leaves core. A data key stays a data key (decrypt-datakey opens the result).
   */
  route('post', '/re-encrypt', async (c) => {
    const req = body(c, S.ReEncrypt);
    const destId = await keyIdOf(kms, c, req.destination_key_id);
    const srcRef = req.source_key_id === undefined ? undefined : await keyIdOf(kms, c, req.source_key_id);
    const srcAlg = req.source_encryption_algorithm ?? 'SYMMETRIC_DEFAULT';
    const dstAlg = req.destination_encryption_algorithm ?? 'SYMMETRIC_DEFAULT';
    if (srcAlg === 'SM2_ENCRYPT' || dstAlg === 'SM2_ENCRYPT') throw new HuaweiError('2106', 'SM2 keys are not supported here.');
    let dkLen: number | undefined;
    if (req.datakey_cipher_length !== undefined && req.datakey_cipher_length !== '') {
      dkLen = S.intOf(req.datakey_cipher_length, '2204', 'datakey_cipher_length');
      if (dkLen < 1 || dkLen > 1024) throw new HuaweiError('2204', 'datakey_cipher_length is 1 to 1024 bytes.');
      if (srcAlg !== 'SYMMETRIC_DEFAULT' || dstAlg !== 'SYMMETRIC_DEFAULT')
        throw new HuaweiError('0308', 'A data-key ciphertext (datakey_cipher_length) is re-encrypted between symmetric keys only.');
    }
    const blob = dkLen ? S.fromHex(req.cipher_text, '2201', 'cipher_text') : S.fromBase64(req.cipher_text, '2201', 'cipher_text');
    let from: ReEncryptSource;
    let domain: string | undefined;
    if (srcAlg !== 'SYMMETRIC_DEFAULT') {
      // Asymmetric ciphertext carries no metadata: the key id is required (ReEncryptRequestBody).
      if (!srcRef) throw new HuaweiError('0204', 'source_key_id is required to re-encrypt asymmetric ciphertext.');
      from = { ciphertext: blob, keyId: srcRef, oaep: oaepOf(srcAlg) };
    } else {
      const { coreBlob } = unwrapCiphertext(blob);
      // Core's format byte says who made a data key: core's generator, or this dialect's sealing (DEK_DOMAIN).
      const generated = dkLen !== undefined && coreBlob[0] === 0x02;
      domain = dkLen !== undefined && !generated ? DEK_DOMAIN : undefined;
      if (dkLen !== undefined && coreBlob.length - CIPHERTEXT_OVERHEAD !== dkLen)
        throw new HuaweiError('2204', `The data key is ${coreBlob.length - CIPHERTEXT_OVERHEAD} bytes.`);
      from = {
        ciphertext: coreBlob,
        context: aad(req.source_additional_authenticated_data, domain),
        dataKey: generated,
        expectKeyId: srcRef,
      };
    }
    const to: ReEncryptTarget =
      dstAlg !== 'SYMMETRIC_DEFAULT'
        ? { keyId: destId, oaep: oaepOf(dstAlg) }
        : { keyId: destId, context: aad(req.destination_additional_authenticated_data, domain) };
    const r = await kms.reEncrypt(caller(c), from, to);
    const out = dstAlg !== 'SYMMETRIC_DEFAULT' ? r.ciphertext : wrapCiphertext(r.ciphertext, r.keyId);
    return c.json({
      key_id: r.keyId,
      source_key_id: r.sourceKeyId,
      source_encryption_algorithm: srcAlg,
      destination_encryption_algorithm: dstAlg,
      cipher_text: dkLen ? S.hexUpper(out) : out.toString('base64'),
    });
  });

  route('post', '/gen-random', async (c) => {
    const req = body(c, S.GenRandom);
    const bits = S.intOf(req.random_data_length, '1801', 'random_data_length');
    if (bits < 8 || bits > 8192) throw new HuaweiError('1801');
    if (bits % 8 !== 0) throw new HuaweiError('1802');
    return c.json({ random_data: S.hexUpper(await kms.random(caller(c), bits / 8)) });
  });
}
