/**
 * OVHcloud KMS service keys: https://eu-west-rbx.okms.ovh.net (OpenAPI 2.14.0, operations
 * CreateImportServiceKey, ListServiceKeys, GetServiceKey, PatchServiceKey, DeleteServiceKey,
 * ActivateServiceKey, DeactivateServiceKey, Encrypt, Decrypt, GenerateDataKey, DecryptDataKey, Sign,
 * Verify; see apps/ovh/spec/ovh-okms-openapi.yaml (2.16.2), docs/vendors/reference/ovh-okms.md §2-§5
 * and docs/vendors/reference/ovh-okms-2.16.md for what the current okms-cli and SDK send).
 */
import { encodeCursor, invalid, isUuid, joseSignParams, type KeyRecord, type KeyState, type Kms } from '@polykms/core';
import { readText } from '@polykms/http';
import { body, caller, type OvhContext } from '../app.ts';
import { fromJwe, toJwe } from '../jwe.ts';
import { restoreLeadingZeros } from '../jwk.ts';
import { ovhState, serviceKey } from '../mapper.ts';
import * as S from '../schemas.ts';

type Route = (method: 'get' | 'post' | 'patch' | 'delete', path: string, h: (c: OvhContext) => Promise<Response>) => void;

const ctxBytes = (context: string | null | undefined) => (context ? Buffer.from(context, 'utf8') : undefined);
const b64 = (s: string) => Buffer.from(s, 'base64');

const STATE_FILTER: Record<string, KeyState[] | undefined> = {
  all: undefined,
  pre_active: ['pre_active'],
  active: ['active'],
  deactivated: ['deactivated', 'pending_deletion'],
  compromised: ['compromised', 'pending_deletion'],
  destroyed: ['destroyed'],
  destroyed_compromised: ['destroyed'],
};

export function serviceKeyRoutes(kms: Kms, route: Route) {
  const format = (c: OvhContext) => {
    const f = c.req.query('format');
    if (f !== undefined && f !== 'jwk') throw invalid(`format must be 'jwk'; got '${f}'`);
    return f === 'jwk';
  };
  const withJwk = async (c: OvhContext, k: KeyRecord, jwk: boolean, asAction?: string) => {
    if (!jwk) return serviceKey(k);
    if (k.kind === 'RSA' || k.kind === 'EC') {
      // On create, the public half is part of what was just allowed: no separate `get` right needed.
      const pub = await kms.getPublicKey(caller(c, asAction ? { 'key.get_public_key': asAction } : undefined), k.id);
      return serviceKey(k, {
        ...pub.jwk,
        kid: k.id,
        key_ops: k.ops.filter((o) => o === 'verify' || o === 'encrypt' || o === 'wrapKey'),
      });
    }
    // A secret key is never exported: the JWK names it only.
    return serviceKey(k, { kty: 'oct', kid: k.id, key_ops: k.ops });
  };

  route('post', '/v1/servicekey', async (c) => {
    const jwk = format(c);
    const req = await body(c, S.CreateImportServiceKeyRequest);
    if (req.protectionLevel && req.protectionLevel !== 'SOFTWARE')
      throw invalid(`protectionLevel ${req.protectionLevel} is not available: keys here are software keys; send SOFTWARE or leave it out`);
    if (req.id != null && !isUuid(req.id)) throw invalid(`id must be a UUID; got '${req.id}'`);
    const common = {
      id: req.id ?? undefined,
      name: req.name,
      attributes: req.context !== undefined ? { context: req.context } : {},
      extractable: req.extractable ?? undefined,
    };
    let k: KeyRecord;
    if (req.keys && req.keys.length) {
      if (req.keys.length > 1) throw invalid('keys: import one key per request');
      if (req.wrappedKeys?.length) throw invalid('send keys or wrappedKeys, not both');
      if (req.type || req.size || req.curve) throw invalid('an import takes the key from keys[0]; do not also send type, size or curve');
      // `kid` (okms-cli sends the key's name) and `use` say nothing the key needs.
      const { kid: _kid, key_ops, use: _use, ...given } = req.keys[0]!;
      const { jwk: material, restored } = restoreLeadingZeros(given);
      const details = restored ? { jwkLeadingZerosRestored: restored } : undefined;
      k = await kms.importKey(caller(c, undefined, details), {
        ...common,
        ops: usages(key_ops) ?? usages(req.operations),
        material: { format: 'jwk', jwk: material },
      });
    } else if (req.wrappedKeys?.length) {
      // Wrapped import (bring your own key): core unwraps the JWE with the transport key and reads
      // type, size and curve from the material; those sent here must agree with it.
      if (req.wrappedKeys.length > 1) throw invalid('wrappedKeys: import one key per request');
      const w = req.wrappedKeys[0]!;
      k = await kms.importWrapped(caller(c), {
        ...common,
        ops: usages(req.operations),
        wrappingKeyId: w.wrappingKeyId,
        format: w.keyFormatType,
        jwe: w.ciphertext,
        expect: { kind: req.type, size: req.size, curve: req.curve },
      });
    } else {
      if (!req.type) throw invalid('type is required to create a key (oct, RSA or EC), or keys to import one');
      if (req.type === 'EC' && req.size !== undefined) throw invalid('an EC key takes a curve, not a size');
      if (req.type !== 'EC' && req.curve !== undefined) throw invalid(`a ${req.type} key takes a size, not a curve`);
      if (req.type === 'EC' && req.curve === undefined) throw invalid('an EC key needs a curve: P-256, P-384 or P-521');
      k = await kms.createKey(caller(c), {
        ...common,
        spec: { kind: req.type, size: req.size, curve: req.curve },
        ops: usages(req.operations),
      });
    }
    return c.json(
      await withJwk(c, k, jwk, k.origin === 'imported' ? 'okms:apikms:serviceKey/import' : 'okms:apikms:serviceKey/create'),
      201,
    );
  });

  route('get', '/v1/servicekey', async (c) => {
    const state = c.req.query('state') ?? 'all';
    // An own member only: `in` would take `constructor` and the like from Object's prototype.
    if (!Object.hasOwn(STATE_FILTER, state)) throw invalid(`state must be one of ${Object.keys(STATE_FILTER).join(', ')}`);
    const maxText = c.req.query('max');
    const max = maxText === undefined ? 100 : Number(maxText);
    if (!Number.isInteger(max) || max < 10 || max > 100) throw invalid('max must be an integer from 10 to 100');
    const token = c.req.query('continuation-token');
    if (token !== undefined && (token.length === 0 || token.length > 500)) throw invalid('continuation-token must be 1 to 500 characters');
    const page = await kms.listKeys(caller(c), { limit: max, cursor: token, states: STATE_FILTER[state] });
    const keys = page.keys.filter((k) => state === 'all' || ovhState(k) === state);
    // The document wants a non-empty token even on the last page: the position after the last key.
    const last = page.keys[page.keys.length - 1];
    const position =
      page.nextCursor ??
      (last ? encodeCursor(last.createdAt, last.id) : (token ?? encodeCursor(new Date(0), '00000000-0000-0000-0000-000000000000')));
    return c.json({
      objects_list: keys.map((k) => serviceKey(k)),
      continuation_token: position,
      is_truncated: page.nextCursor !== null,
    });
  });

  route('get', '/v1/servicekey/:keyId', async (c) => {
    const jwk = format(c);
    const wrappingKeyId = c.req.query('wrappingKeyId');
    const wrappedKeyFormat = c.req.query('wrappedKeyFormat');
    const wrappingAlgorithm = c.req.query('wrappingAlgorithm');
    if (wrappingKeyId === undefined) {
      if (wrappedKeyFormat !== undefined || wrappingAlgorithm !== undefined)
        throw invalid('wrappedKeyFormat and wrappingAlgorithm go with wrappingKeyId (wrapped export)');
      return c.json(await withJwk(c, await kms.getKey(caller(c), keyIdOf(c)), jwk));
    }
    // Wrapped export: the material leaves only as a JWE under the customer's transport key (core).
    if (!isUuid(wrappingKeyId)) throw invalid(`wrappingKeyId must be a UUID; got '${wrappingKeyId}'`);
    const fmt = S.KeyFormatTypes.safeParse(wrappedKeyFormat);
    if (!fmt.success) throw invalid(`wrappedKeyFormat is required with wrappingKeyId: one of ${S.KeyFormatTypes.options.join(', ')}`);
    const alg = S.WrappingAlgorithms.safeParse(wrappingAlgorithm);
    if (!alg.success) throw invalid(`wrappingAlgorithm is required with wrappingKeyId: one of ${S.WrappingAlgorithms.options.join(', ')}`);
    const r = await kms.exportWrapped(caller(c), keyIdOf(c), {
      wrappingKeyId,
      format: fmt.data,
      algorithm: alg.data,
      maxLength: MAX_WRAPPED,
    });
    return c.json({
      ...serviceKey(r.key),
      wrappedKeys: [{ keyFormatType: r.format, wrappingKeyId: r.wrappingKeyId, ciphertext: r.jwe }],
    });
  });

  route('patch', '/v1/servicekey/:keyId', async (c) => {
    const req = await body(c, S.PatchServiceKeyRequest);
    return c.json(serviceKey(await kms.updateKey(caller(c), keyIdOf(c), { name: req.name, extractable: req.extractable ?? undefined })));
  });

  route('delete', '/v1/servicekey/:keyId', async (c) => {
    // Core's state table refuses a key that is not deactivated (or compromised), under the row lock.
    await kms.destroy(caller(c), keyIdOf(c));
    return c.body(null, 204);
  });

  route('post', '/v1/servicekey/:keyId/activate', async (c) => {
    const text = await readText(c);
    if (text.trim() !== '' && text.trim() !== '{}') throw invalid('activate takes no body');
    await kms.activate(caller(c), keyIdOf(c));
    return c.body(null, 204);
  });

  route('post', '/v1/servicekey/:keyId/deactivate', async (c) => {
    const req = await body(c, S.DeactivateServicekeyRequest);
    await kms.deactivate(caller(c), keyIdOf(c), req.reason);
    return c.body(null, 204);
  });

  route('post', '/v1/servicekey/:keyId/encrypt', async (c) => {
    const req = await body(c, S.EncryptRequest);
    const pt = b64(req.plaintext);
    if (pt.length > 4096) throw invalid('plaintext: at most 4096 bytes');
    const keyId = keyIdOf(c);
    const r = await kms.encrypt(caller(c), keyId, pt, ctxBytes(req.context));
    return c.json({ ciphertext: toJwe(r.ciphertext, r.keyId, r.version, r.keySize ?? 256, 'ciphertext') });
  });

  route('post', '/v1/servicekey/:keyId/decrypt', async (c) => {
    const req = await body(c, S.DecryptRequest);
    const { blob } = fromJwe(req.ciphertext, 'ciphertext');
    const r = await kms.decrypt(caller(c), blob, ctxBytes(req.context), { expectKeyId: keyIdOf(c) });
    return c.json({ plaintext: r.plaintext.toString('base64') });
  });

  route('post', '/v1/servicekey/:keyId/datakey', async (c) => {
    const req = await body(c, S.GenerateDataKeyRequest);
    if (req.size % 8 !== 0) throw invalid('size: a data key is a whole number of bytes (a multiple of 8 bits)');
    const r = await kms.generateDataKey(caller(c), keyIdOf(c), req.size / 8);
    return c.json(
      {
        key: toJwe(r.ciphertext, r.keyId, r.version, r.keySize ?? 256, 'datakey'),
        plaintext: r.plaintext!.toString('base64'),
      },
      201,
    );
  });

  route('post', '/v1/servicekey/:keyId/datakey/decrypt', async (c) => {
    const req = await body(c, S.DecryptDataKeyRequest);
    const { blob } = fromJwe(req.key, 'datakey');
    const r = await kms.decrypt(caller(c, { 'key.decrypt': 'okms:apikms:serviceKey/dataKey/decrypt' }), blob, undefined, {
      expectKeyId: keyIdOf(c),
      dataKey: true,
    });
    return c.json({ plaintext: r.plaintext.toString('base64') });
  });

  route('post', '/v1/servicekey/:keyId/sign', async (c) => {
    const fmt = c.req.query('format') ?? 'raw';
    if (!['raw', 'jws', 'jwt'].includes(fmt)) throw invalid(`format must be raw, jws or jwt; got '${fmt}'`);
    const req = await body(c, S.SignRequest);
    const keyId = keyIdOf(c);
    const params = (alg: string) => (k: KeyRecord) => joseSignParams(alg, specOf(k));
    const message = b64(req.message);
    if (fmt === 'raw') {
      const r = await kms.sign(caller(c), keyId, (k) => ({ ...params(req.alg)(k), prehashed: !!req.isdigest }), message);
      return c.json({ signature: r.signature.toString('base64') });
    }
    if (req.isdigest) throw invalid(`format ${fmt} signs the message itself; isdigest must be false`);
    if (fmt === 'jwt') {
      let claims: unknown;
      try {
        claims = JSON.parse(message.toString('utf8'));
      } catch {
        claims = undefined;
      }
      if (!claims || typeof claims !== 'object' || Array.isArray(claims))
        throw invalid('format jwt: message must be base64 of a JSON object (the claims)');
    }
    const header = Buffer.from(JSON.stringify({ alg: req.alg, kid: keyId, ...(fmt === 'jwt' ? { typ: 'JWT' } : {}) })).toString(
      'base64url',
    );
    const signingInput = `${header}.${message.toString('base64url')}`;
    const r = await kms.sign(caller(c), keyId, params(req.alg), Buffer.from(signingInput));
    return c.json({ signature: `${signingInput}.${r.signature.toString('base64url')}` });
  });

  route('post', '/v1/servicekey/:keyId/verify', async (c) => {
    const req = await body(c, S.VerifyRequest);
    const keyId = keyIdOf(c);
    const params = (alg: string) => (k: KeyRecord) => joseSignParams(alg, specOf(k));
    const jws = req.signature.split('.');
    if (jws.length === 3) {
      let header: unknown;
      try {
        header = JSON.parse(Buffer.from(jws[0]!, 'base64url').toString('utf8'));
      } catch {
        header = undefined;
      }
      if (!header || typeof header !== 'object' || Array.isArray(header) || typeof (header as { alg?: unknown }).alg !== 'string')
        throw invalid('signature: not a compact JWS (its header has no alg)');
      const alg = (header as { alg: string }).alg;
      if (req.alg && req.alg !== alg) throw invalid(`alg ${req.alg} does not match the JWS header (${alg})`);
      if (req.message != null && Buffer.from(jws[1]!, 'base64url').toString('base64') !== req.message) return c.json({ result: false });
      const r = await kms.verify(caller(c), keyId, params(alg), Buffer.from(`${jws[0]}.${jws[1]}`), Buffer.from(jws[2]!, 'base64url'));
      return c.json({ result: r.valid });
    }
    if (!req.alg) throw invalid('alg is required to verify a raw signature');
    if (req.message == null) throw invalid('message is required to verify a raw signature');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(req.signature)) throw invalid('signature: must be standard base64, or a compact JWS');
    const r = await kms.verify(
      caller(c),
      keyId,
      (k) => ({ ...params(req.alg!)(k), prehashed: !!req.isdigest }),
      b64(req.message),
      b64(req.signature),
    );
    return c.json({ result: r.valid });
  });
}

/**
 * okms-cli sends `operations: []` (and `key_ops: []`) when no `--usage` was given: the key then gets
 * every operation its type allows, as when the field is absent. Its flag also offers `deriveKey` and
 * `deriveBits`, which no key here can do.
 */
function usages(ops: readonly string[] | null | undefined): string[] | undefined {
  if (!ops || ops.length === 0) return undefined;
  const derive = ops.filter((o) => o === 'deriveKey' || o === 'deriveBits');
  if (derive.length)
    throw invalid(
      `${derive.join(' and ')} ${derive.length > 1 ? 'are' : 'is'} not available: keys here encrypt, decrypt, sign, verify, wrapKey and unwrapKey`,
    );
  return [...ops];
}

/** WrappedKeyEntry.ciphertext: at most 5000 characters in the 2.16.2 document. */
const MAX_WRAPPED = 5000;

const specOf = (k: KeyRecord) => ({ kind: k.kind, size: k.size ?? undefined, curve: k.curve ?? undefined });
const keyIdOf = (c: OvhContext) => c.req.param('keyId' as never) as string;
