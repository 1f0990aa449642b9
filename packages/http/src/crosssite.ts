import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface CrossSiteOptions {
  /** Foreign origins that may still call (CSE's CORS origins); exact `scheme://host[:port]` strings. */
  allowOrigins?: readonly string[] | undefined;
}

/**
 * Browser cross-site requests are refused on every method but GET, HEAD and OPTIONS, whatever their
 * content type: a browser holding an OVH client certificate presents it to any page's form or fetch,
 * and a request some route does not read the body of (activate, deactivate) needs no preflight.
 *
 * hono's `csrf` middleware is not used: it checks form content types only, refuses a form post from a
 * client that sends neither header (curl, SDKs), and answers with its own text body.
 *
 * A request is refused when its `Origin` is neither the listener's own origin nor an allowed one
 * (`Origin: null`, a sandboxed or opaque origin, included), or, without `Origin`, when
 * `Sec-Fetch-Site` says `cross-site` or `same-site` (a sibling host is another origin). A client that
 * sends neither header is not a browser and passes. `refuse` renders the dialect's own 403.
 */
export function refuseCrossSite(
  refuse: (c: Context, reason: string) => Response | Promise<Response>,
  opts: CrossSiteOptions = {},
): MiddlewareHandler {
  const allowed = new Set(opts.allowOrigins ?? []);
  return async (c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next();
    // Node's parsed headers when there are some: the common case (no browser) costs two lookups.
    const headers = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.headers;
    const origin = headers ? headers.origin : c.req.header('origin');
    const site = headers ? headers['sec-fetch-site'] : c.req.header('sec-fetch-site');
    if (origin === undefined && site === undefined) return next();
    if (origin !== undefined) {
      if (origin === new URL(c.req.url).origin || allowed.has(origin)) return next();
      return refuse(c, `cross-site request refused: Origin ${origin.slice(0, 200)} is not this server's`);
    }
    if (site === 'cross-site' || site === 'same-site') return refuse(c, `cross-site request refused (Sec-Fetch-Site: ${site})`);
    return next();
  };
}
