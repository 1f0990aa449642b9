import type { KeyRecord } from '@polykms/core';

/** Core states in OVH's words (KMIP's set); a key pending deletion (set through another dialect) is deactivated here. */
export function ovhState(k: Pick<KeyRecord, 'state' | 'compromisedAt'>): string {
  switch (k.state) {
    case 'pending_deletion':
      return k.compromisedAt ? 'compromised' : 'deactivated';
    case 'destroyed':
      return k.compromisedAt ? 'destroyed_compromised' : 'destroyed';
    // OVH has no such state (keys here only wait for material when a Huawei client made them so): unusable.
    case 'pending_import':
      return 'deactivated';
    default:
      return k.state;
  }
}

const iso = (d: Date | null) => (d ? d.toISOString() : undefined);

/** 2.16.2's ServiceKeyClassEnum. */
export const keyClass = (k: Pick<KeyRecord, 'kind' | 'publicOnly'>) =>
  k.publicOnly ? 'PUBLIC_KEY' : k.kind === 'RSA' || k.kind === 'EC' ? 'KEY_PAIR' : 'SECRET_KEY';

/** GetServiceKeyResponse; `jwk` is the public JWK (format=jwk), present only when asked. */
export function serviceKey(k: KeyRecord, jwk?: Record<string, unknown>) {
  const attributes: Record<string, unknown> = { state: ovhState(k), original_creation_date: iso(k.createdAt) };
  if (k.activatedAt) attributes.activation_date = iso(k.activatedAt);
  if (k.deactivatedAt && k.state !== 'active') attributes.deactivation_date = iso(k.deactivatedAt);
  if (k.deactivationReason && k.state !== 'active') attributes.deactivation_reason = k.deactivationReason;
  if (k.compromisedAt) attributes.compromise_date = iso(k.compromisedAt);
  if (k.destroyedAt) attributes.destroy_date = iso(k.destroyedAt);
  if (typeof k.attributes.context === 'string') attributes.context = k.attributes.context;
  return {
    id: k.id,
    name: k.name,
    type: k.kind === 'HMAC' ? 'oct' : k.kind,
    ...(k.curve ? { curve: k.curve } : {}),
    operations: k.ops,
    ...(k.size ? { size: k.size } : {}),
    protectionLevel: 'SOFTWARE',
    class: keyClass(k),
    attributes,
    ...(jwk ? { keys: [jwk] } : {}),
  };
}
