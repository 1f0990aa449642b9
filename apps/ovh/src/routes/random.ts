/** OVHcloud KMS GenerateRandomBytes: GET /v1/random?length=1..4096 (OpenAPI 2.14.0). */
import { invalid, type Kms } from '@polykms/core';
import { caller, type OvhContext } from '../app.ts';

type Route = (method: 'get', path: string, h: (c: OvhContext) => Promise<Response>) => void;

export function randomRoutes(kms: Kms, route: Route) {
  route('get', '/v1/random', async (c) => {
    const text = c.req.query('length');
    const length = text === undefined ? 1 : Number(text);
    if (!Number.isInteger(length) || length < 1 || length > 4096) throw invalid('length must be an integer from 1 to 4096');
    return c.json({ bytes: (await kms.random(caller(c), length)).toString('base64') });
  });
}
