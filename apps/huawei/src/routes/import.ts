/**
 * Huawei KMS key material import, bring your own key (huawei-kms.md §2.6): CreateParametersForImport
 * (get-parameters-for-import), ImportKeyMaterial, DeleteImportedKeyMaterial. A key created with
 * `origin: external` is pending import ("5"); core holds the wrapping key, unwraps, checks the material
 * against the key and activates it (operations/import-material.ts). A key pair comes as a temporary AES
 * key (`encrypted_key_material`) and its private key under it (`encrypted_privatekey`, RFC 5649 key wrap).
 */
import type { ImportWrapHash, Kms } from '@polykms/core';
import { body, caller, type Route } from '../app.ts';
import { HuaweiError } from '../errors.ts';
import * as S from '../schemas.ts';

const HASH_OF: Record<string, ImportWrapHash> = { RSAES_OAEP_SHA_256: 'SHA-256', RSAES_OAEP_SHA_1: 'SHA-1' };

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

export function importRoutes(kms: Kms, route: Route) {
  route('post', '/get-parameters-for-import', async (c) => {
    const req = body(c, S.GetParametersForImport);
    const hash = HASH_OF[req.wrapping_algorithm];
    if (req.wrapping_algorithm === 'RSAES_PKCS1_V1_5')
      throw new HuaweiError(
        '0308',
        'RSAES_PKCS1_V1_5 is not offered: PKCS#1 v1.5 decryption of keys invites a padding oracle. Use RSAES_OAEP_SHA_256 (or RSAES_OAEP_SHA_1).',
      );
    if (!hash)
      throw new HuaweiError('0308', `${req.wrapping_algorithm} is not available here: use RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1.`);
    const p = await kms.importParameters(caller(c), req.key_id, hash);
    return c.json({
      key_id: p.keyId,
      import_token: p.token,
      expiration_time: seconds(p.expiresAt),
      public_key: p.publicKey.toString('base64'),
    });
  });

  route('post', '/import-key-material', async (c) => {
    const req = body(c, S.ImportKeyMaterial);
    const wrapped = S.fromBase64(req.encrypted_key_material, '0308', 'encrypted_key_material');
    // A key pair: encrypted_key_material is the temporary AES key, this the private key under it (core checks both).
    const privateKey =
      req.encrypted_privatekey === undefined || req.encrypted_privatekey === ''
        ? undefined
        : S.fromBase64(req.encrypted_privatekey, '0308', 'encrypted_privatekey');
    const expiresAt =
      req.expiration_time === undefined ? undefined : new Date(S.intOf(req.expiration_time, '2602', 'expiration_time') * 1000);
    await kms.importKeyMaterial(caller(c), req.key_id, { token: req.import_token, wrapped, privateKey, expiresAt });
    return c.json({});
  });

  route('post', '/delete-imported-key-material', async (c) => {
    const req = body(c, S.KeyOnly);
    await kms.deleteImportedMaterial(caller(c), req.key_id);
    return c.json({});
  });
}
