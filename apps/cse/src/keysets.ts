import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { httpsCall } from './net.ts';

/**
 * JWKS by URI, shared by every issuer that names it. `https://` sets are jose's remote sets (cached
 * 10 minutes, refetched at most every 30 s when a token names an unknown `kid`); `file://` sets are
 * read once and re-read when a token names an unknown `kid` and the file changed, so a key rotation
 * needs no restart and tests run offline. One entry per configured URI: the map is bounded by the
 * configuration.
 */
export class KeySets {
  private readonly sets = new Map<string, JWTVerifyGetKey>();

  get(uri: string, ca?: string | undefined): JWTVerifyGetKey {
    const id = `${uri}\u0000${ca ?? ''}`;
    let set = this.sets.get(id);
    if (!set) {
      set = uri.startsWith('file:') ? fileKeySet(fileURLToPath(uri)) : remoteKeySet(uri, ca);
      this.sets.set(id, set);
    }
    return set;
  }
}

function remoteKeySet(uri: string, ca: string | undefined): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(uri), {
    timeoutDuration: 5000,
    cooldownDuration: 30_000,
    cacheMaxAge: 600_000,
    [customFetch]: async (url: string) => {
      const r = await httpsCall(url, { ca, timeoutMs: 5000, maxBytes: 512 * 1024 });
      return { status: r.status, json: async () => JSON.parse(r.text) } as Response;
    },
  });
}

function fileKeySet(path: string): JWTVerifyGetKey {
  let loaded: { get: JWTVerifyGetKey; mtimeMs: number } | undefined;
  const load = async () => {
    const st = await stat(path);
    const jwks = JSON.parse(await readFile(path, 'utf8')) as JSONWebKeySet;
    loaded = { get: createLocalJWKSet(jwks), mtimeMs: st.mtimeMs };
    return loaded;
  };
  return async (header, token) => {
    const current = loaded ?? (await load());
    try {
      return await current.get(header, token);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw e;
      if ((await stat(path)).mtimeMs === current.mtimeMs) throw e;
      return (await load()).get(header, token);
    }
  };
}
