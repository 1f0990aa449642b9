import type { Context, Env, Hono } from 'hono';
import type { Logger } from 'pino';

export interface Rendered {
  status: number;
  body: unknown;
}

/**
 * The one error handler of a listener: anything a handler throws goes through the listener's renderer
 * (its vendor's body), and only what renders as a 5xx is logged, with the request id.
 */
export function handleErrors<E extends Env>(
  app: Hono<E>,
  name: string,
  render: (e: unknown, c: Context<E>) => Rendered | Promise<Rendered>,
  log?: Logger | undefined,
) {
  app.onError(async (e, c) => {
    const { status, body } = await render(e, c);
    if (status >= 500) log?.error({ err: e, reqId: c.get('requestId' as never) }, `${name} request failed`);
    return c.json(body as object, status as 400);
  });
}
