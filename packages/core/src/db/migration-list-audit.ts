import { type Kysely, type Migration, sql } from 'kysely';

/** The migrations of the audit trail's one-statement append (`polykms_audit_append`), in migration-list.ts's order. */
export const auditAppend: Record<string, Migration> = {
  '0013_audit_append': {
    async up(db: Kysely<any>) {
      // The group commit's one statement as a function: PL/pgSQL keeps its plans, so a batch no longer
      // pays for parsing and planning the head move and the insert (bench/RESULTS.md has the figures).
      // It moves the head only if it is still at `from` and returns the rows inserted (0: it had moved);
      // anything but every row inserted is an error, so the head never moves without its rows.
      await sql`create function polykms_audit_append(from_seq bigint, from_chain bytea, to_seq bigint, to_chain bytea,
          to_mac bytea, sealed jsonb) returns bigint language plpgsql as $$
        declare inserted bigint;
        begin
          update audit_chain_head set seq = to_seq, chain = to_chain, mac = to_mac
            where id = 1 and seq = from_seq and chain = from_chain;
          if not found then return 0; end if;
          insert into audit_events (at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, mac, seq, chain)
            select x.at, x.tenant_id, x.dialect, x.principal, x.action, x.key_id, x.outcome, x.error_kind, x.request_id, x.details,
              decode(x.mac, 'hex'), x.seq, decode(x.chain, 'hex')
            from jsonb_to_recordset(sealed) as x(at timestamptz, tenant_id uuid, dialect text, principal text, action text,
              key_id uuid, outcome text, error_kind text, request_id text, details jsonb, mac text, seq bigint, chain text);
          get diagnostics inserted = row_count;
          -- Fewer rows than sealed (a trigger or rule on the table) must not leave the head moved.
          if inserted <> jsonb_array_length(sealed) then
            raise exception 'audit append inserted % of % rows', inserted, jsonb_array_length(sealed);
          end if;
          return inserted;
        end $$`.execute(db);
    },
  },
  '0014_audit_journal_mark': {
    async up(db: Kysely<any>) {
      // The last audit-journal event stored (embedded store only; audit-journal.ts), moved in the statement
      // that stores it, so a journal replayed after a crash skips what was already stored. The 0013
      // function stays for a gateway of the previous version sharing the database during an upgrade.
      await sql`alter table audit_chain_head add column journal_mark bigint not null default 0`.execute(db);
      await sql`create function polykms_audit_append(from_seq bigint, from_chain bytea, to_seq bigint, to_chain bytea,
          to_mac bytea, sealed jsonb, mark bigint) returns bigint language plpgsql as $$
        declare inserted bigint;
        begin
          update audit_chain_head set seq = to_seq, chain = to_chain, mac = to_mac, journal_mark = greatest(journal_mark, coalesce(mark, 0))
            where id = 1 and seq = from_seq and chain = from_chain;
          if not found then return 0; end if;
          insert into audit_events (at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, mac, seq, chain)
            select x.at, x.tenant_id, x.dialect, x.principal, x.action, x.key_id, x.outcome, x.error_kind, x.request_id, x.details,
              decode(x.mac, 'hex'), x.seq, decode(x.chain, 'hex')
            from jsonb_to_recordset(sealed) as x(at timestamptz, tenant_id uuid, dialect text, principal text, action text,
              key_id uuid, outcome text, error_kind text, request_id text, details jsonb, mac text, seq bigint, chain text);
          get diagnostics inserted = row_count;
          if inserted <> jsonb_array_length(sealed) then
            raise exception 'audit append inserted % of % rows', inserted, jsonb_array_length(sealed);
          end if;
          return inserted;
        end $$`.execute(db);
    },
  },
  '0015_audit_worker_journals': {
    async up(db: Kysely<any>) {
      // Each worker of `serve --workers` journals its own events and the primary stores them
      // (audit-journaled.ts): a mark per worker journal, moved in the statement that stores its events.
      // `journal_name` null is the store owner's own journal, whose mark stays on the head.
      await sql`create table audit_journal_marks (journal text primary key, mark bigint not null)`.execute(db);
      await sql`create function polykms_audit_append(from_seq bigint, from_chain bytea, to_seq bigint, to_chain bytea,
          to_mac bytea, sealed jsonb, mark bigint, journal_name text) returns bigint language plpgsql as $$
        declare inserted bigint;
        begin
          update audit_chain_head set seq = to_seq, chain = to_chain, mac = to_mac,
              journal_mark = case when journal_name is null then greatest(journal_mark, coalesce(mark, 0)) else journal_mark end
            where id = 1 and seq = from_seq and chain = from_chain;
          if not found then return 0; end if;
          if journal_name is not null and mark is not null then
            insert into audit_journal_marks as m values (journal_name, mark)
              on conflict (journal) do update set mark = greatest(m.mark, excluded.mark);
          end if;
          insert into audit_events (at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, mac, seq, chain)
            select x.at, x.tenant_id, x.dialect, x.principal, x.action, x.key_id, x.outcome, x.error_kind, x.request_id, x.details,
              decode(x.mac, 'hex'), x.seq, decode(x.chain, 'hex')
            from jsonb_to_recordset(sealed) as x(at timestamptz, tenant_id uuid, dialect text, principal text, action text,
              key_id uuid, outcome text, error_kind text, request_id text, details jsonb, mac text, seq bigint, chain text);
          get diagnostics inserted = row_count;
          if inserted <> jsonb_array_length(sealed) then
            raise exception 'audit append inserted % of % rows', inserted, jsonb_array_length(sealed);
          end if;
          return inserted;
        end $$`.execute(db);
    },
  },
};
