import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AuditTrail } from './audit.ts';
import type { KeyCache } from './cache.ts';
import type { LoadedKey } from './crypto.ts';
import type { Database } from './db/schema.ts';
import type { KeyLoader } from './runtime/loader.ts';
import type { Keyring } from './rootkey.ts';

/** What every core operation works with; private to core (apps see the `Kms` facade). */
export interface Core {
  readonly db: Kysely<Database>;
  readonly log: Logger;
  readonly audit: AuditTrail;
  readonly cache: KeyCache<LoadedKey>;
  readonly loader: KeyLoader;
  readonly now: () => Date;
  /** Replaced during a root-key rotation. */
  keyring: Keyring;
  /** After a key change commits: every other process sharing this store has dropped the key from its caches. */
  readonly fence: (scopedKeyId: string) => Promise<void>;
}
