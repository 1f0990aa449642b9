/**
 * Gmail S/MIME methods of the KACLS API: privatekeysign, privatekeydecrypt,
 * privilegedprivatekeydecrypt and wrapprivatekey
 * (https://developers.google.com/workspace/cse/reference/private-key-sign and the pages beside it).
 */
import type { LoadedKey } from '@polykms/core';
import { body, type CseContext, type CseDeps, type Register } from '../app.ts';
import { PRIVATE_KEY_CONTEXT, decodePrivateKeyPayload, encodePrivateKeyPayload, open, seal } from '../blob.ts';
import { CseError, badRequest } from '../errors.ts';
import { checkSpkiHash, decryptDek, loadRsa, parsePrivateKey, signDigest } from '../gmail.ts';
import * as S from '../schemas.ts';

async function unwrapPrivateKey(
  c: CseContext,
  d: CseDeps,
  _principal: string,
  wrapped: string,
): Promise<{ key: LoadedKey; perimeterId: string }> {
  const blob = S.decodeBase64(wrapped, 'wrapped_private_key', S.LIMITS.wrappedPrivateKey);
  const plain = await open(d.instance, c.get('audit'), c.get('requestId'), blob, PRIVATE_KEY_CONTEXT, 'wrapped_private_key');
  const { pkcs8, perimeterId } = decodePrivateKeyPayload(plain);
  plain.fill(0);
  return { key: loadRsa(pkcs8), perimeterId };
}

export function privateKeyRoutes(route: Register) {
  route('post', 'wrapprivatekey', async (c, d) => {
    const req = await body(c, S.WrapPrivateKeyRequest);
    const identity = await d.access.privileged(req.authentication);
    const scope = c.get('audit');
    scope.principal = identity.email;
    Object.assign(scope.details, { perimeter_id: req.perimeter_id ?? '', privileged: true });
    d.access.perimeter(req.perimeter_id, { email: identity.email, authentication: identity.claims });
    const { pkcs8 } = parsePrivateKey(req.private_key);
    const blob = await seal(
      d.instance,
      c.get('audit'),
      c.get('requestId'),
      encodePrivateKeyPayload(pkcs8, req.perimeter_id ?? ''),
      PRIVATE_KEY_CONTEXT,
    );
    pkcs8.fill(0);
    if (blob.length > S.LIMITS.wrappedPrivateKey)
      throw new CseError(400, `the wrapped private key would exceed ${S.LIMITS.wrappedPrivateKey} bytes`, 'private_key');
    return c.json({ wrapped_private_key: blob.toString('base64') });
  });

  route('post', 'privatekeysign', async (c, d) => {
    const req = await body(c, S.PrivateKeySignRequest);
    const digest = S.decodeBase64(req.digest, 'digest', S.LIMITS.digest);
    S.decodeBase64(req.wrapped_private_key, 'wrapped_private_key', S.LIMITS.wrappedPrivateKey);
    const { identity, authz } = await d.access.user(req, 'privatekeysign');
    const scope = c.get('audit');
    scope.principal = identity.email;
    Object.assign(scope.details, {
      resource_name: authz.resource_name,
      role: authz.role,
      algorithm: req.algorithm,
      message_id: authz.message_id?.slice(0, 256),
    });
    const { key, perimeterId } = await unwrapPrivateKey(c, d, identity.email, req.wrapped_private_key);
    checkSpkiHash(key, authz.spki_hash, authz.spki_hash_algorithm, 'authorization token');
    d.access.perimeter(perimeterId, {
      email: identity.email,
      authentication: identity.claims,
      authorization: authz.claims,
    });
    return c.json({
      signature: (await signDigest(key, req.algorithm, digest, req.rsa_pss_salt_length)).toString('base64'),
    });
  });

  route('post', 'privatekeydecrypt', async (c, d) => {
    const req = await body(c, S.PrivateKeyDecryptRequest);
    const ct = S.decodeBase64(req.encrypted_data_encryption_key, 'encrypted_data_encryption_key', S.LIMITS.encryptedDek);
    const label = req.rsa_oaep_label ? S.decodeBase64(req.rsa_oaep_label, 'rsa_oaep_label', S.LIMITS.oaepLabel, 0) : undefined;
    S.decodeBase64(req.wrapped_private_key, 'wrapped_private_key', S.LIMITS.wrappedPrivateKey);
    const { identity, authz } = await d.access.user(req, 'privatekeydecrypt');
    const scope = c.get('audit');
    scope.principal = identity.email;
    Object.assign(scope.details, {
      resource_name: authz.resource_name,
      role: authz.role,
      algorithm: req.algorithm,
      message_id: authz.message_id?.slice(0, 256),
    });
    const { key, perimeterId } = await unwrapPrivateKey(c, d, identity.email, req.wrapped_private_key);
    checkSpkiHash(key, authz.spki_hash, authz.spki_hash_algorithm, 'authorization token');
    d.access.perimeter(perimeterId, {
      email: identity.email,
      authentication: identity.claims,
      authorization: authz.claims,
    });
    return c.json({ data_encryption_key: (await decryptDek(key, req.algorithm, ct, label)).toString('base64') });
  });

  route('post', 'privilegedprivatekeydecrypt', async (c, d) => {
    const req = await body(c, S.PrivilegedPrivateKeyDecryptRequest);
    const ct = S.decodeBase64(req.encrypted_data_encryption_key, 'encrypted_data_encryption_key', S.LIMITS.encryptedDek);
    const label = req.rsa_oaep_label ? S.decodeBase64(req.rsa_oaep_label, 'rsa_oaep_label', S.LIMITS.oaepLabel, 0) : undefined;
    S.decodeBase64(req.spki_hash, 'spki_hash', S.LIMITS.spkiHash);
    S.decodeBase64(req.wrapped_private_key, 'wrapped_private_key', S.LIMITS.wrappedPrivateKey);
    const identity = await d.access.privileged(req.authentication);
    const scope = c.get('audit');
    scope.principal = identity.email;
    Object.assign(scope.details, { algorithm: req.algorithm, privileged: true });
    const { key, perimeterId } = await unwrapPrivateKey(c, d, identity.email, req.wrapped_private_key);
    checkSpkiHash(key, req.spki_hash, req.spki_hash_algorithm, 'spki_hash', (m, r) => badRequest(m, r));
    d.access.perimeter(perimeterId, { email: identity.email, authentication: identity.claims });
    return c.json({ data_encryption_key: (await decryptDek(key, req.algorithm, ct, label)).toString('base64') });
  });
}
