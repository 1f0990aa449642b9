/**
 * Huawei KMS key rotation (huawei-kms.md §2.5): EnableKeyRotation, DisableKeyRotation,
 * ShowKeyRotationStatus (get-key-rotation-status), UpdateKeyRotationInterval, RotateOnDemand.
 * The switch and interval are core's scheduled rotation (`kms.setRotation`): every gateway process
 * sweeps for due keys and the database lets exactly one of them make each period's new version.
 * A rotation makes a new core key version, so older ciphertexts keep decrypting.
 */
import type { KeyRecord, Kms } from '@polykms/core';
import { body, caller, requireAction, type HuaweiContext, type Route } from '../app.ts';
import { HuaweiError } from '../errors.ts';
import * as S from '../schemas.ts';

const DAY = 86_400;
/** The interval a key rotates at until update-key-rotation-interval says otherwise. */
const DEFAULT_INTERVAL_DAYS = 365;

/** Only AES keys made by KMS rotate (KMS.0324 for RSA, KMS.0325 for the other asymmetric keys). */
async function rotatable(kms: Kms, c: HuaweiContext, keyId: string): Promise<KeyRecord> {
  const k = await kms.getKey(caller(c), keyId);
  if (k.state === 'destroyed') throw new HuaweiError('0207');
  if (k.kind === 'RSA') throw new HuaweiError('0324');
  if (k.kind === 'EC' || k.kind === 'OKP') throw new HuaweiError('0325');
  if (k.kind === 'HMAC') throw new HuaweiError('0341');
  if (k.origin === 'imported') throw new HuaweiError('0312');
  if (k.state === 'pending_deletion') throw new HuaweiError('0210');
  return k;
}

const intervalDays = (k: KeyRecord) =>
  k.rotation.periodSeconds === null ? DEFAULT_INTERVAL_DAYS : Math.round(k.rotation.periodSeconds / DAY);

export function rotationRoutes(kms: Kms, route: Route) {
  route('post', '/enable-key-rotation', async (c) => {
    const req = body(c, S.KeyOnly);
    requireAction(c, 'key.update');
    const k = await rotatable(kms, c, req.key_id);
    await kms.setRotation(caller(c), k.id, { enabled: true, periodSeconds: intervalDays(k) * DAY });
    return c.json({});
  });

  route('post', '/disable-key-rotation', async (c) => {
    const req = body(c, S.KeyOnly);
    requireAction(c, 'key.update');
    const k = await rotatable(kms, c, req.key_id);
    await kms.setRotation(caller(c), k.id, { enabled: false });
    return c.json({});
  });

  route('post', '/update-key-rotation-interval', async (c) => {
    const req = body(c, S.RotationInterval);
    const days = S.intOf(req.rotation_interval, '3001', 'rotation_interval');
    if (days < 30 || days > 365) throw new HuaweiError('3001', 'rotation_interval is 30 to 365 days.');
    requireAction(c, 'key.update');
    const k = await rotatable(kms, c, req.key_id);
    await kms.setRotation(caller(c), k.id, { periodSeconds: days * DAY });
    return c.json({});
  });

  route('post', '/get-key-rotation-status', async (c) => {
    const req = body(c, S.KeyOnly);
    const k = await kms.getKey(caller(c), req.key_id);
    if (k.state === 'destroyed') throw new HuaweiError('0207');
    return c.json({
      key_rotation_enabled: k.rotation.nextAt !== null,
      rotation_interval: intervalDays(k),
      last_rotation_time: k.rotation.lastAt ? String(k.rotation.lastAt.getTime()) : '',
      number_of_rotations: k.currentVersion - 1,
    });
  });

  route('post', '/rotate-on-demand', async (c) => {
    const req = body(c, S.KeyOnly);
    requireAction(c, 'key.rotate');
    const k = await rotatable(kms, c, req.key_id);
    await kms.rotate(caller(c), k.id);
    return c.json({ key_id: k.id });
  });
}
