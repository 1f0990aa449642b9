import { sql } from 'kysely';
import { storeOf, type Kms } from './kms.ts';
import { registerRootKeys } from './rootkeys-store.ts';
import { materialAad, openMaterial, sealMaterial, secretAad } from './rootkey.ts';

export interface RotationProgress {
  done: number;
  total: number;
}

/**
 * Re-wraps every key version still under an older root key with the current one, in small
 * transactions. Each row records its root key id, so a crash leaves rows that are either old or new
 * and all readable with the keyring; running again picks up where it stopped.
 */
export async function rotateRootKey(
  kms: Kms,
  opts: {
    batchSize?: number;
    onProgress?: (p: RotationProgress) => void /** test hook: simulate a crash */;
    afterBatch?: (n: number) => void;
  } = {},
): Promise<RotationProgress> {
  const keyring = kms.keyringForRotation;
  const current = keyring.current;
  const batchSize = opts.batchSize ?? 200;
  await registerRootKeys(storeOf(kms).db, keyring);
  const pending = () =>
    storeOf(kms)
      .db.selectFrom('key_versions')
      .select((e) => e.fn.countAll<string>().as('n'))
      .where('material', 'is not', null)
      .where('root_key_id', '<>', current.id)
      .executeTakeFirstOrThrow();
  const total = Number((await pending()).n);
  let done = 0;
  let batches = 0;
  for (;;) {
    const n = await storeOf(kms)
      .db.transaction()
      .execute(async (trx) => {
        const rows = await trx
          .selectFrom('key_versions as v')
          .select(['v.tenant_id', 'v.key_id', 'v.version', 'v.root_key_id', 'v.material'])
          .where('v.material', 'is not', null)
          .where('v.root_key_id', '<>', current.id)
          .orderBy('v.tenant_id')
          .orderBy('v.key_id')
          .orderBy('v.version')
          .limit(batchSize)
          .modifyEnd(sql`for update of v skip locked`)
          .execute();
        for (const r of rows) {
          const aad = materialAad(r.tenant_id, r.key_id, r.version);
          const secret = openMaterial(keyring, r.root_key_id!, r.material!, aad);
          const sealed = sealMaterial(current, secret, aad);
          secret.fill(0);
          await trx
            .updateTable('key_versions')
            .set({ material: sealed, root_key_id: current.id })
            .where('tenant_id', '=', r.tenant_id)
            .where('key_id', '=', r.key_id)
            .where('version', '=', r.version)
            .where('root_key_id', '=', r.root_key_id)
            .execute();
        }
        return rows.length;
      });
    if (n === 0) break;
    done += n;
    batches++;
    opts.onProgress?.({ done, total });
    opts.afterBatch?.(batches);
  }
  // The gateway's own sealed secrets are few: one pass, each row under its own guard.
  const secrets = await storeOf(kms).db.selectFrom('sealed_secrets').selectAll().where('root_key_id', '<>', current.id).execute();
  for (const s of secrets) {
    const secret = openMaterial(keyring, s.root_key_id, s.sealed, secretAad(s.id));
    await storeOf(kms)
      .db.updateTable('sealed_secrets')
      .set({ sealed: sealMaterial(current, secret, secretAad(s.id)), root_key_id: current.id })
      .where('id', '=', s.id)
      .where('root_key_id', '=', s.root_key_id)
      .execute();
    secret.fill(0);
    done++;
  }
  const left = Number((await pending()).n);
  return { done, total: Math.max(total, done + left) };
}
