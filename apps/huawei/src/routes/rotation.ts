/**
 * Huawei KMS key rotation switches (huawei-kms.md §2.5): EnableKeyRotation, DisableKeyRotation,
 * ShowKeyRotationStatus (get-key-rotation-status), UpdateKeyRotationInterval, RotateOnDemand.
 * The switch and interval are key attributes; a rotation makes a new core key version, so older
 * ciphertexts keep decrypting. Periodic rotation by the interval is not scheduled by polykms
 * (rotate-on-demand rotates now).
 */
import type { KeyRecord, Kms } from '@polykms/core';
import { body, caller, requireAction, type HuaweiContext, type Route } from '../app.ts';
import { HuaweiError } from '../errors.ts';
import * as S from '../schemas.ts';

interface Rotation {
  enabled?: boolean;
  interval?: number;
  last?: number;
}

const rotationOf = (k: KeyRecord): Rotation => (k.attributes.rotation ?? {}) as Rotation;

/** Only AES keys made by KMS rotate (KMS.0324 for RSA, KMS.0325 for the other asymmetric keys). */
async function rotatable(kms: Kms, c: HuaweiContext, keyId: string): Promise<KeyRecord> {
  const k = await kms.getKey(caller(c), keyId);
  if (k.state === 'destroyed') throw new HuaweiError('0207');
  if (k.kind === 'RSA') throw new HuaweiError('0324');
  if (k.kind === 'EC') throw new HuaweiError('0325');
  if (k.kind === 'HMAC') throw new HuaweiError('0341');
  if (k.state === 'pending_deletion') throw new HuaweiError('0210');
  return k;
}

export function rotationRoutes(kms: Kms, route: Route) {
  const set = async (c: HuaweiContext, keyId: string, patch: Rotation) => {
    requireAction(c, 'key.update');
    const k = await rotatable(kms, c, keyId);
    await kms.updateKey(caller(c), keyId, { attributes: { rotation: { ...rotationOf(k), ...patch } } });
  };

  route('post', '/enable-key-rotation', async (c) => {
    const req = body(c, S.KeyOnly);
    await set(c, req.key_id, { enabled: true });
    return c.json({});
  });

  route('post', '/disable-key-rotation', async (c) => {
    const req = body(c, S.KeyOnly);
    await set(c, req.key_id, { enabled: false });
    return c.json({});
  });

  route('post', '/update-key-rotation-interval', async (c) => {
    const req = body(c, S.RotationInterval);
    const days = S.intOf(req.rotation_interval, '3001', 'rotation_interval');
    if (days < 30 || days > 365) throw new HuaweiError('3001', 'rotation_interval is 30 to 365 days.');
    await set(c, req.key_id, { interval: days });
    return c.json({});
  });

  route('post', '/get-key-rotation-status', async (c) => {
    const req = body(c, S.KeyOnly);
    const k = await kms.getKey(caller(c), req.key_id);
    if (k.state === 'destroyed') throw new HuaweiError('0207');
    const r = rotationOf(k);
    return c.json({
      key_rotation_enabled: !!r.enabled,
      rotation_interval: r.interval ?? 365,
      last_rotation_time: r.last ? String(r.last) : '',
      number_of_rotations: k.currentVersion - 1,
    });
  });

  route('post', '/rotate-on-demand', async (c) => {
    const req = body(c, S.KeyOnly);
    requireAction(c, 'key.rotate');
    const k = await rotatable(kms, c, req.key_id);
    await kms.rotate(caller(c), req.key_id);
    await kms.updateKey(caller(c), req.key_id, { attributes: { rotation: { ...rotationOf(k), last: Date.now() } } });
    return c.json({ key_id: k.id });
  });
}
