import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MiddlewareHandler } from 'hono';

/**
 * One minimum for a configured admin token, from the environment or a file: 16 characters (a generated
 * token has 43), none of them whitespace (a Bearer header could not carry it).
 */
export function checkAdminToken(token: string, from: string) {
  if (token.length < 16) throw new Error(`${from} is too short (at least 16 characters; openssl rand -hex 32 makes one)`);
  if (/\s/.test(token)) throw new Error(`${from} contains whitespace, which an Authorization header cannot carry`);
}

/** The admin token from POLYKMS_ADMIN_TOKEN, or one generated on first start into the data directory (0600). */
export function loadAdminToken(dataDir: string, configured: string | undefined): { token: string; file?: string; generated: boolean } {
  if (configured) return { token: configured, generated: false };
  const file = join(dataDir, 'admin.token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), file, generated: false };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { token, file, generated: true };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** `Authorization: Bearer <token>`, compared in constant time (over digests, so lengths do not leak). */
export function requireAdmin(token: string): MiddlewareHandler {
  const want = digest(token);
  return async (c, next) => {
    const h = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m || !timingSafeEqual(digest(m[1]!), want)) {
      return c.json(
        {
          class: 'Client::Unauthorized',
          message: m ? 'invalid admin token' : 'missing admin token (Authorization: Bearer <POLYKMS_ADMIN_TOKEN>)',
        },
        401,
      );
    }
    await next();
  };
}
