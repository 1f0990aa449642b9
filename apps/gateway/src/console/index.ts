/**
 * The operator's web console, served on the admin port at /console/. The page itself holds no data
 * and is served without the admin token; the script asks for the token once (kept in sessionStorage,
 * this tab only) and sends it as a Bearer header to the admin API (/admin/... and the OVH control
 * plane /v2/...), which is where the token is checked.
 *
 * Assets are plain files read once at startup: no build step, nothing fetched from elsewhere.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';

const asset = (name: string) => readFileSync(new URL(`./assets/${name}`, import.meta.url));

/**
 * Scripts only from this origin (none inline), no plugins, no framing, API calls only to this origin,
 * forms never submitted natively (a token typed into one must not end up in a URL), and Trusted Types
 * enforced so that any innerHTML-style sink throws instead of parsing markup.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONSOLE_CSP,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  // Revalidate on every load, so an upgraded gateway never runs an old script against a new API.
  'Cache-Control': 'no-cache',
};

export interface ConsoleOptions {
  /** Where the console is served; `/console` unless set. */
  path?: string | undefined;
}

export function consoleApp(opts: ConsoleOptions = {}) {
  const base = (opts.path ?? '/console').replace(/\/+$/, '');
  const files = new Map<string, { body: Buffer; type: string }>([
    ['', { body: asset('index.html'), type: 'text/html; charset=utf-8' }],
    ['app.js', { body: asset('app.js'), type: 'text/javascript; charset=utf-8' }],
    ['app.css', { body: asset('app.css'), type: 'text/css; charset=utf-8' }],
  ]);

  const app = new Hono();
  app.use(`${base}/*`, async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
  });
  app.get(base, (c) => c.redirect(`${base}/`, 301));
  const serveFile = (name: string) => {
    const f = files.get(name);
    return f
      ? new Response(new Uint8Array(f.body), { status: 200, headers: { 'Content-Type': f.type } })
      : new Response('not found\n', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  };
  app.get(`${base}/`, () => serveFile(''));
  app.get(`${base}/:file`, (c) => serveFile(c.req.param('file')));
  return app;
}
