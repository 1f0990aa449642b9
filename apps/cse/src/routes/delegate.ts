/**
 * delegate (https://developers.google.com/workspace/cse/reference/delegate): a new authentication JWT,
 * signed by this KACLS, that lets `delegated_to` act for the user on `resource_name` only. This KACLS
 * accepts it back as an authentication token (iss = aud = its URL, checked against its own /certs
 * keys) together with an authorization token carrying the same delegated_to and resource_name.
 */
import { body, type Register } from '../app.ts';
import { normalizeUrl } from '../config.ts';
import * as S from '../schemas.ts';

/** Google recommends short-lived delegated tokens. */
export const DELEGATED_TTL_SECONDS = 15 * 60;

export function delegateRoutes(route: Register) {
  route('post', 'delegate', async (c, d) => {
    const req = await body(c, S.DelegateRequest);
    const { identity, authz } = await d.access.user(req, 'delegate');
    const scope = c.get('audit');
    scope.principal = identity.email;
    Object.assign(scope.details, {
      resource_name: authz.resource_name,
      delegated_to: authz.delegated_to,
      role: authz.role,
    });
    d.access.perimeter(authz.perimeter_id, {
      email: identity.email,
      authentication: identity.claims,
      authorization: authz.claims,
    });
    const token = await d.instance.sign(
      {
        email: identity.email,
        delegated_to: authz.delegated_to,
        resource_name: authz.resource_name,
        ...(typeof identity.claims.google_email === 'string' ? { google_email: identity.claims.google_email } : {}),
      },
      normalizeUrl(d.config.kaclsUrl),
      DELEGATED_TTL_SECONDS,
    );
    return c.json({ delegated_authentication: token });
  });
}
