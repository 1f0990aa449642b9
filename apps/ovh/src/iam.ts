import type { Action } from '@polykms/core';

/**
 * OVH IAM, as far as a KMS domain needs it: policies name identities (URNs), resources (URNs, a
 * trailing `*` matches a prefix) and actions (`okms:apikms:serviceKey/encrypt`, `*` wildcards);
 * `deny` wins over `allow`, `except` removes actions from `allow`. An account identity is root.
 */
export interface IamPolicy {
  identities: string[];
  resources: { urn: string }[];
  permissions: { allow?: { action: string }[]; except?: { action: string }[]; deny?: { action: string }[] };
}

/** Core actions in OVH's IAM words (the operation descriptions of the OpenAPI document). */
export const OVH_ACTIONS: Record<Action, string> = {
  'key.create': 'okms:apikms:serviceKey/create',
  'key.import': 'okms:apikms:serviceKey/import',
  'key.get': 'okms:apikms:serviceKey/get',
  'key.list': 'okms:apikms:serviceKey/get',
  'key.update': 'okms:apikms:serviceKey/update',
  'key.activate': 'okms:apikms:serviceKey/activate',
  'key.deactivate': 'okms:apikms:serviceKey/deactivate',
  'key.schedule_deletion': 'okms:apikms:serviceKey/delete',
  'key.cancel_deletion': 'okms:apikms:serviceKey/delete',
  'key.destroy': 'okms:apikms:serviceKey/delete',
  'key.rotate': 'okms:apikms:serviceKey/update',
  'key.encrypt': 'okms:apikms:serviceKey/encrypt',
  'key.decrypt': 'okms:apikms:serviceKey/decrypt',
  'key.generate_data_key': 'okms:apikms:serviceKey/dataKey/create',
  'key.sign': 'okms:apikms:serviceKey/sign',
  'key.verify': 'okms:apikms:serviceKey/verify',
  'key.get_public_key': 'okms:apikms:serviceKey/get',
  'key.export': 'okms:apikms:serviceKey/get',
  'key.wrap': 'okms:apikms:serviceKey/wrapKey',
  'key.unwrap': 'okms:apikms:serviceKey/unwrapKey',
  'key.delete_material': 'okms:apikms:serviceKey/delete',
  // OVH has no grants; managing them is changing the key.
  'key.create_grant': 'okms:apikms:serviceKey/update',
  'key.list_grants': 'okms:apikms:serviceKey/get',
  'key.revoke_grant': 'okms:apikms:serviceKey/update',
  'key.retire_grant': 'okms:apikms:serviceKey/update',
  // OVH has no key agreement; no OVH route asks for it.
  'key.derive_shared_secret': 'okms:apikms:serviceKey/deriveKey',
  random: 'okms:apikms:random/get',
};

export const domainUrn = (okmsId: string) => `urn:v1:eu:resource:okms:${okmsId}`;
export const keyUrn = (okmsId: string, keyId: string) => `${domainUrn(okmsId)}/serviceKey/${keyId}`;

const ACCOUNT_RE = /^urn:v1:[a-z]+:identity:account:[^/]+$/;
export const isRoot = (identities: readonly string[]) => identities.some((i) => ACCOUNT_RE.test(i));

const glob = (pattern: string, value: string) => {
  if (pattern === '*' || pattern === value) return true;
  if (!pattern.includes('*')) return false;
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(value);
};

/** A resource URN matches a policy resource exactly, by wildcard, or as a key inside a named domain. */
const resourceMatches = (policyUrn: string, urn: string) => glob(policyUrn, urn) || urn.startsWith(`${policyUrn}/`);

export function allowed(policies: readonly IamPolicy[], identities: readonly string[], action: string, urn: string): boolean {
  if (isRoot(identities)) return true;
  let allow = false;
  for (const p of policies) {
    if (!p.identities.some((i) => identities.includes(i))) continue;
    if (!p.resources.some((r) => resourceMatches(r.urn, urn))) continue;
    if (p.permissions.deny?.some((a) => glob(a.action, action))) return false;
    if (p.permissions.allow?.some((a) => glob(a.action, action)) && !p.permissions.except?.some((a) => glob(a.action, action)))
      allow = true;
  }
  return allow;
}

/** Checks a policy document's shape before it is stored (a typo must not silently deny or allow). */
export function parsePolicy(doc: unknown): IamPolicy {
  const d = doc as Partial<IamPolicy> | null;
  const urns = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.startsWith('urn:v1:'));
  const acts = (v: unknown) =>
    v === undefined || (Array.isArray(v) && v.every((x) => typeof x?.action === 'string' && x.action.length > 0));
  if (!d || typeof d !== 'object') throw new Error('a policy is a JSON object');
  if (!urns(d.identities) || d.identities!.length === 0)
    throw new Error('policy.identities must be a non-empty list of identity URNs (urn:v1:...)');
  if (
    !Array.isArray(d.resources) ||
    d.resources.length === 0 ||
    !d.resources.every((r) => typeof r?.urn === 'string' && r.urn.startsWith('urn:v1:'))
  )
    throw new Error('policy.resources must be a non-empty list of {"urn": "urn:v1:..."}');
  const p = d.permissions;
  if (!p || typeof p !== 'object' || !acts(p.allow) || !acts(p.except) || !acts(p.deny))
    throw new Error('policy.permissions has allow/except/deny lists of {"action": "okms:apikms:..."}');
  return {
    identities: d.identities!,
    resources: d.resources,
    permissions: { allow: p.allow, except: p.except, deny: p.deny },
  };
}
