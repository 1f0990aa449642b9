/**
 * DEK methods of the KACLS API (https://developers.google.com/workspace/cse/reference):
 * wrap, unwrap, privilegedwrap, privilegedunwrap (formerly takeout_unwrap), digest and rewrap.
 */
import { body, type CseContext, type CseDeps, type Register } from '../app.ts';
import { DEK_CONTEXT, decodeDekPayload, encodeDekPayload, open, resourceKeyHash, seal, type WrappedDek } from '../blob.ts';
import { normalizeUrl, MIGRATION_AUDIENCE } from '../config.ts';
import { CseError, forbidden } from '../errors.ts';
import { httpsCall } from '../net.ts';
import { sameText } from '../access.ts';
import * as S from '../schemas.ts';
import { readFileSync } from 'node:fs';

const b64 = (b: Buffer) => b.toString('base64');

async function wrapDek(c: CseContext, d: CseDeps, _principal: string, w: WrappedDek): Promise<string> {
  const blob = await seal(d.instance, c.get('audit'), c.get('requestId'), encodeDekPayload(w), DEK_CONTEXT);
  if (blob.length > S.LIMITS.wrappedKey)
    throw new CseError(
      400,
      `the wrapped key would exceed ${S.LIMITS.wrappedKey} bytes; shorten resource_name or perimeter_id`,
      'wrapped_key',
    );
  return b64(blob);
}

async function unwrapDek(c: CseContext, d: CseDeps, _principal: string, wrappedKey: string): Promise<WrappedDek> {
  const blob = S.decodeBase64(wrappedKey, 'wrapped_key', S.LIMITS.wrappedKey);
  return decodeDekPayload(await open(d.instance, c.get('audit'), c.get('requestId'), blob, DEK_CONTEXT, 'wrapped_key'));
}

function sameResource(w: WrappedDek, resourceName: string) {
  if (!sameText(w.resourceName, resourceName))
    throw forbidden('the wrapped key belongs to another resource (resource_name differs)', 'resource_name');
}

export function keyRoutes(route: Register) {
  route('post', 'wrap', async (c, d) => {
    const req = await body(c, S.WrapRequest);
    const dek = S.decodeBase64(req.key, 'key', S.LIMITS.key);
    const { identity, authz } = await d.access.user(req, 'wrap');
    const scope = c.get('audit');
    scope.principal = identity.email;
    Object.assign(scope.details, {
      resource_name: authz.resource_name,
      perimeter_id: authz.perimeter_id ?? '',
      role: authz.role,
    });
    const perimeterId = authz.perimeter_id ?? '';
    d.access.perimeter(perimeterId, {
      email: identity.email,
      authentication: identity.claims,
      authorization: authz.claims,
    });
    return c.json({
      wrapped_key: await wrapDek(c, d, identity.email, { dek, resourceName: authz.resource_name, perimeterId }),
    });
  });

  route('post', 'unwrap', async (c, d) => {
    const req = await body(c, S.UnwrapRequest);
    S.decodeBase64(req.wrapped_key, 'wrapped_key', S.LIMITS.wrappedKey);
    const { identity, authz } = await d.access.user(req, 'unwrap');
    const scope = c.get('audit');
    scope.principal = identity.email;
    Object.assign(scope.details, { resource_name: authz.resource_name, role: authz.role });
    const w = await unwrapDek(c, d, identity.email, req.wrapped_key);
    sameResource(w, authz.resource_name);
    scope.details.perimeter_id = w.perimeterId;
    d.access.perimeter(w.perimeterId, {
      email: identity.email,
      authentication: identity.claims,
      authorization: authz.claims,
    });
    return c.json({ key: b64(w.dek) });
  });

  route('post', 'privilegedwrap', async (c, d) => {
    const req = await body(c, S.PrivilegedWrapRequest);
    const dek = S.decodeBase64(req.key, 'key', S.LIMITS.key);
    const identity = await d.access.privileged(req.authentication);
    const scope = c.get('audit');
    scope.principal = identity.email;
    Object.assign(scope.details, {
      resource_name: req.resource_name,
      perimeter_id: req.perimeter_id ?? '',
      privileged: true,
    });
    d.access.perimeter(req.perimeter_id, { email: identity.email, authentication: identity.claims });
    return c.json({
      wrapped_key: await wrapDek(c, d, identity.email, {
        dek,
        resourceName: req.resource_name,
        perimeterId: req.perimeter_id ?? '',
      }),
    });
  });

  route('post', 'privilegedunwrap', async (c, d) => {
    const req = await body(c, S.PrivilegedUnwrapRequest);
    S.decodeBase64(req.wrapped_key, 'wrapped_key', S.LIMITS.wrappedKey);
    const identity = await d.access.privileged(req.authentication, { allowPeer: true });
    const scope = c.get('audit');
    scope.principal = identity.email;
    Object.assign(scope.details, { resource_name: req.resource_name, privileged: true, via: identity.kind });
    if (
      identity.kind === 'peer' &&
      (typeof identity.claims.resource_name !== 'string' || !sameText(identity.claims.resource_name, req.resource_name))
    )
      throw forbidden('the migration token is for another resource', 'resource_name');
    const w = await unwrapDek(c, d, identity.email, req.wrapped_key);
    sameResource(w, req.resource_name);
    scope.details.perimeter_id = w.perimeterId;
    // A peer KACLS is trusted by configuration; a person still meets the perimeter's rule.
    if (identity.kind !== 'peer') d.access.perimeter(w.perimeterId, { email: identity.email, authentication: identity.claims });
    return c.json({ key: b64(w.dek) });
  });

  route('post', 'digest', async (c, d) => {
    const req = await body(c, S.DigestRequest);
    S.decodeBase64(req.wrapped_key, 'wrapped_key', S.LIMITS.wrappedKey);
    const authz = await d.access.service(req.authorization, 'digest');
    const scope = c.get('audit');
    scope.principal = authz.email;
    Object.assign(scope.details, { resource_name: authz.resource_name, role: authz.role });
    const w = await unwrapDek(c, d, authz.email, req.wrapped_key);
    sameResource(w, authz.resource_name);
    return c.json({ resource_key_hash: resourceKeyHash(w.dek, w.resourceName, w.perimeterId) });
  });

  route('post', 'rewrap', async (c, d) => {
    const req = await body(c, S.RewrapRequest);
    S.decodeBase64(req.wrapped_key, 'wrapped_key', S.LIMITS.wrappedKey);
    const authz = await d.access.service(req.authorization, 'rewrap');
    const scope = c.get('audit');
    scope.principal = authz.email;
    Object.assign(scope.details, {
      resource_name: authz.resource_name,
      role: authz.role,
      original_kacls_url: req.original_kacls_url.slice(0, 300),
    });
    // No SSRF: only a KACLS named in `peers` is ever called, at the URL written there.
    const want = URL.canParse(req.original_kacls_url) ? normalizeUrl(req.original_kacls_url) : undefined;
    const peer = want ? d.config.peers.find((p) => normalizeUrl(p.url) === want) : undefined;
    if (!peer) throw forbidden(`original_kacls_url is not an allowlisted peer KACLS (peers)`, 'original_kacls_url');
    const authentication = await d.instance.sign({ kacls_url: peer.url, resource_name: authz.resource_name }, MIGRATION_AUDIENCE, 300);
    const payload = JSON.stringify({
      authentication,
      resource_name: authz.resource_name,
      wrapped_key: req.wrapped_key,
      reason: 'KACLS migration',
    });
    const r = await httpsCall(`${peer.url.replace(/\/+$/, '')}/privilegedunwrap`, {
      method: 'POST',
      body: payload,
      ca: peer.caFile ? readFileSync(peer.caFile, 'utf8') : undefined,
      timeoutMs: 10_000,
      maxBytes: 64 * 1024,
    });
    let reply: { key?: unknown; message?: unknown } | undefined;
    try {
      reply = JSON.parse(r.text);
    } catch {
      reply = undefined;
    }
    if (r.status !== 200 || typeof reply?.key !== 'string') {
      const msg = typeof reply?.message === 'string' ? `: ${reply.message.slice(0, 300)}` : '';
      throw new CseError(502, `the original KACLS refused privilegedunwrap (HTTP ${r.status})${msg}`, 'original_kacls');
    }
    const dek = S.decodeBase64(reply.key, 'key', S.LIMITS.key);
    const perimeterId = authz.perimeter_id ?? '';
    const wrapped = await wrapDek(c, d, authz.email, { dek, resourceName: authz.resource_name, perimeterId });
    return c.json({ resource_key_hash: resourceKeyHash(dek, authz.resource_name, perimeterId), wrapped_key: wrapped });
  });
}
