import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { parse, stringify } from 'yaml';

/**
 * The Swagger UI of OVH's guide: OVH's OpenAPI document (with this gateway as its server) and the
 * swagger-ui-dist assets. The page itself needs no certificate; the calls it makes present the one the
 * browser holds (a PKCS#12 from `polykms ovh credential p12`), like every other API call.
 */
const SPEC = fileURLToPath(new URL('../spec/ovh-okms-openapi.yaml', import.meta.url));
const ASSETS = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>polykms: OVHcloud KMS API</title><link rel="stylesheet" href="./swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="./swagger-ui-bundle.js"></script><script src="./swagger-ui-standalone-preset.js"></script>
<script src="./swagger-init.js"></script>
</body></html>`;

// A file, not an inline script, so the policy below needs no 'unsafe-inline'. No validator badge: it
// would be an image from validator.swagger.io.
const INIT = `window.ui = SwaggerUIBundle({ url: './openapi.yaml', dom_id: '#swagger-ui', validatorUrl: null, presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });\n`;

/**
 * The page runs in a browser that holds an OVH client certificate: only this origin's scripts, API
 * calls only to this origin, no framing (a page that frames it could click for the user), no native
 * form posts. Images also from data: URIs, which swagger-ui's stylesheet uses for its icons.
 */
export const SWAGGER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': SWAGGER_CSP,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

export function swaggerApp() {
  const app = new Hono();
  const spec = parse(readFileSync(SPEC, 'utf8')) as Record<string, unknown>;
  const assets = new Map(Object.entries(FILES).map(([f, type]) => [f, { body: readFileSync(join(ASSETS, f)), type }]));
  assets.set('swagger-init.js', { body: Buffer.from(INIT), type: 'text/javascript; charset=utf-8' });
  app.use('/swagger/*', async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
  });
  app.get('/swagger', (c) => c.redirect('/swagger/'));
  app.get('/swagger/', (c) => c.html(PAGE));
  app.get('/swagger/openapi.yaml', (c) => {
    const origin = new URL(c.req.url).origin;
    return c.body(stringify({ ...spec, servers: [{ url: origin }] }), 200, {
      'content-type': 'application/yaml; charset=utf-8',
    });
  });
  // One static route per file (an unknown name is the data plane's 404): a `/swagger/:file` pattern
  // next to `/swagger/` is more than hono's RegExpRouter takes, and every data-plane request would then
  // be routed by the slower trie.
  for (const [file, a] of assets)
    app.get(`/swagger/${file}`, (c) => c.body(a.body, 200, { 'content-type': a.type, 'cache-control': 'public, max-age=86400' }));
  return app;
}
