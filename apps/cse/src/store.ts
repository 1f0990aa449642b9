import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { DialectStorage } from '@polykms/core';

/** The KEK id this dialect derived from its tenant before keys had owners (a v8 UUID of SHA-256). */
export function kekIdBeforeOwners(tenantId: string): string {
  const h = createHash('sha256').update(`polykms/cse/kek/${tenantId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * The CSE dialect has no tables of its own; its one migration claims the key-encryption keys it made
 * before keys had owners (named google-cse-kek, at the id derived from their tenant, in a tenant a CSE
 * instance is bound to), so it finds the
 * same key and old wrapped keys keep opening. A customer key that only shares the name stays theirs.
 */
export const CSE_STORAGE: DialectStorage = {
  dialect: 'cse',
  migrations: {
    '0001_kek_owner': {
      async up(db: Kysely<any>) {
        const keks = await sql<{
          id: string;
          tenant_id: string;
        }>`select id, tenant_id from keys k where name = 'google-cse-kek' and owner is null
          and exists (select 1 from tenant_bindings b where b.dialect = 'cse' and b.tenant_id = k.tenant_id)`.execute(db);
        for (const k of keks.rows) {
          if (k.id.toLowerCase() === kekIdBeforeOwners(k.tenant_id))
            await sql`update keys set owner = 'cse' where tenant_id = ${k.tenant_id} and id = ${k.id}`.execute(db);
        }
      },
    },
  },
};
