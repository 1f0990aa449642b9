/**
 * Huawei KMS data key pairs and key agreement (huawei-kms.md §2.3;
 * https://support.huaweicloud.com/api-dew/CreateRsaDatakeyPair.html, CreateEcDatakeyPair.html,
 * DeriveSharedSecret.html): CreateRsaDatakeyPair, CreateEcDatakeyPair, DeriveSharedSecret.
 */
import type { KeySpec, Kms } from '@polykms/core';
import { body, caller, keyIdOf, type HuaweiContext, type Route } from '../app.ts';
import { HuaweiError } from '../errors.ts';
import * as S from '../schemas.ts';
import { aadOf } from './crypto.ts';
import { wrapCiphertext } from '../envelope.ts';

const PAIR_SPECS: Record<string, KeySpec | undefined> = {
  RSA_2048: { kind: 'RSA', size: 2048 },
  RSA_3072: { kind: 'RSA', size: 3072 },
  RSA_4096: { kind: 'RSA', size: 4096 },
  ECC_NIST_P256: { kind: 'EC', curve: 'P-256' },
  ECC_NIST_P384: { kind: 'EC', curve: 'P-384' },
  ECC_NIST_P521: { kind: 'EC', curve: 'P-521' },
};

/**
 * The pair's formats are not documented (the models say only "plaintext public key", "ciphertext
 * private key"); this dialect's choice: `public_key` the base64 of the SPKI DER (the form
 * derive-shared-secret takes), `private_key_plain_text` the base64 of the PKCS#8 DER, and
 * `private_key_cipher_text` an encrypt-data ciphertext of that PKCS#8 DER under `key_id`, so
 * decrypt-data (with the same `additional_authenticated_data`) gives it back in `plain_text_base64`.
 */
async function createPair(
  kms: Kms,
  c: HuaweiContext,
  req: { key_id: string; key_spec: string; with_plain_text?: boolean | undefined; additional_authenticated_data?: string | undefined },
) {
  const spec = PAIR_SPECS[req.key_spec];
  if (!spec)
    throw new HuaweiError('0308', `key_spec ${req.key_spec} is not supported here; supported: ${Object.keys(PAIR_SPECS).join(', ')}.`);
  const keyId = await keyIdOf(kms, c, req.key_id);
  const withPlaintext = req.with_plain_text ?? true;
  const r = await kms.generateDataKeyPair(caller(c), keyId, spec, { context: aadOf(req), withPlaintext });
  const out = {
    key_id: r.keyId,
    key_spec: req.key_spec,
    public_key: r.publicKey.toString('base64'),
    private_key_cipher_text: wrapCiphertext(r.privateKeyCiphertext, r.keyId).toString('base64'),
    ...(r.privateKey ? { private_key_plain_text: r.privateKey.toString('base64') } : {}),
  };
  r.privateKey?.fill(0);
  return c.json(out);
}

export function pairRoutes(kms: Kms, route: Route) {
  route('post', '/create-rsa-datakey-pair', async (c) => createPair(kms, c, body(c, S.CreateRsaDatakeyPair)));
  route('post', '/create-ec-datakey-pair', async (c) => createPair(kms, c, body(c, S.CreateEcDatakeyPair)));

  route('post', '/derive-shared-secret', async (c) => {
    const req = body(c, S.DeriveSharedSecret);
    // The recipient form answers with the secret sealed for a Qingtian enclave's attestation: not modelled.
    if (req.recipient !== undefined) throw new HuaweiError('0308', 'recipient (enclave attestation) is not supported here.');
    const keyId = await keyIdOf(kms, c, req.key_id);
    const peer = S.fromBase64(req.public_key, '0308', 'public_key');
    const r = await kms.deriveSharedSecret(caller(c), keyId, peer);
    const secret = r.secret.toString('base64');
    r.secret.fill(0);
    return c.json({ key_id: r.keyId, key_agreement_algorithm: 'ECDH', shared_secret: secret });
  });
}
