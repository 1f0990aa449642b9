import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { systemEvent, type AuditEvent } from './audit-text.ts';

/**
 * An event as the journal holds it: `ordinal` counts the journal's events from 1, over its whole life.
 * `report`: the trail's own record of a line not taken back, stored ahead of the rest under the mark.
 */
export interface JournaledEvent {
  ordinal: bigint;
  event: AuditEvent;
  report?: boolean;
}

/** A line of the journal that was not taken back: `torn` when the process died while writing it. */
export interface JournalProblem {
  file: string;
  line: number;
  problem: string;
  torn: boolean;
}

/** A segment is closed for appends past this size, and deleted once all its events are stored. */
const SEGMENT_BYTES = 1 << 20;
const SEGMENT = /^(\d{20})-[0-9a-z]+\.ndjson$/;
const LINE = /^\{"o":"(\d{1,20})","m":"([0-9a-f]{64})","e":(\[.*\])\}$/;

/**
 * The audit journal of the embedded store: the events of answered operations not yet in the database,
 * appended to segment files before those operations are answered. PGlite runs PostgreSQL without fsync
 * (`-F`), so a write(2) to a file is as durable as its commit: both survive the process dying (SIGKILL,
 * OOM), neither the machine losing power. One write a turn instead of one statement a turn lets the
 * store take events in large batches (audit-journaled.ts).
 * Each line is one turn's events with an HMAC under a key derived from the audit key, so a line altered
 * or forged in the data directory is reported instead of stored; a torn last line (the process died
 * while writing it, so its operations were not answered) is skipped.
 */
export class AuditJournal {
  private fd: number | undefined;
  private file = '';
  private size = 0;
  /** Segments closed for appends, with the last ordinal each holds. */
  private closed: { file: string; last: bigint }[] = [];

  private constructor(
    private readonly dir: string,
    private readonly key: Buffer,
    private next: bigint,
    private readonly write: typeof writeSync,
  ) {}

  /**
   * Opens the journal in `dir` and reads it back: the events after `mark` (the last one the store
   * holds) are returned in order, to be stored before any new one; appends go to a new segment.
   */
  static open(dir: string, auditKey: Buffer, mark: bigint, write: typeof writeSync = writeSync) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = Buffer.from(hkdfSync('sha256', auditKey, Buffer.alloc(0), 'polykms audit journal v1', 32));
    const found = new Map<bigint, AuditEvent>();
    const problems: JournalProblem[] = [];
    const closed: { file: string; last: bigint }[] = [];
    let next = mark + 1n;
    for (const file of readdirSync(dir)
      .filter((f) => SEGMENT.test(f))
      .sort()) {
      const lines = readFileSync(join(dir, file), 'utf8').split('\n');
      const tail = lines.pop();
      let last = 0n;
      lines.forEach((text, i) => {
        const r = readLine(key, text);
        if (typeof r === 'string') return void problems.push({ file, line: i + 1, problem: r, torn: false });
        r.events.forEach((event, k) => {
          const ordinal = r.first + BigInt(k);
          if (ordinal > last) last = ordinal;
          if (ordinal <= mark) return;
          if (found.has(ordinal)) problems.push({ file, line: i + 1, problem: `event ${ordinal} appears twice`, torn: false });
          else found.set(ordinal, event);
        });
      });
      if (tail) problems.push({ file, line: lines.length + 1, problem: 'a line cut short (never answered)', torn: true });
      if (last >= next) next = last + 1n;
      closed.push({ file, last });
    }
    const journal = new AuditJournal(dir, key, next, write);
    journal.closed = closed;
    const unstored: JournaledEvent[] = [...found].sort(([a], [b]) => (a < b ? -1 : 1)).map(([ordinal, event]) => ({ ordinal, event }));
    // Ordinals run without a gap (a line that failed or was torn leaves its ordinals to the next one):
    // a gap is lines or segments deleted. A journal cut after its last line cannot be told from here.
    let expected = mark + 1n;
    for (const { ordinal } of unstored) {
      if (ordinal > expected)
        problems.push({
          file: '',
          line: 0,
          problem: `events ${expected} to ${ordinal - 1n} are missing (lines or segments deleted)`,
          torn: false,
        });
      expected = ordinal + 1n;
    }
    return { journal, unstored, problems };
  }

  /** Appends one turn's events as one line; returns the ordinal of the first. Throws when the line is not whole on disk. */
  append(events: AuditEvent[]): bigint {
    if (this.fd !== undefined && this.size >= SEGMENT_BYTES) this.closeSegment();
    if (this.fd === undefined) this.openSegment();
    const first = this.next;
    const body = JSON.stringify(events);
    const line = Buffer.from(`{"o":"${first}","m":"${mac(this.key, first, body)}","e":${body}}\n`);
    try {
      const n = this.write(this.fd!, line, 0, line.length, this.size);
      if (n !== line.length) throw new Error(`the audit journal took ${n} of ${line.length} bytes`);
    } catch (err) {
      // Nothing of a failed line may stay in the segment: the lines after it would be unreadable.
      try {
        ftruncateSync(this.fd!, this.size);
      } catch {
        this.closeSegment();
      }
      throw err;
    }
    this.size += line.length;
    this.next = first + BigInt(events.length);
    return first;
  }

  /** Deletes the closed segments whose events are all stored (up to `mark`). */
  release(mark: bigint) {
    this.closed = this.closed.filter(({ file, last }) => {
      if (last > mark) return true;
      try {
        unlinkSync(join(this.dir, file));
        return false;
      } catch (e) {
        // Tried again at the next release; gone already is as good as deleted.
        return (e as NodeJS.ErrnoException).code !== 'ENOENT';
      }
    });
  }

  /** Closes the segment being appended (deleted when empty); the journal can be opened again. */
  close() {
    if (this.fd !== undefined) this.closeSegment();
  }

  private openSegment() {
    this.file = `${String(this.next).padStart(20, '0')}-${Date.now().toString(36)}${process.pid.toString(36)}.ndjson`;
    this.fd = openSync(join(this.dir, this.file), 'wx', 0o600);
    this.size = 0;
  }

  private closeSegment() {
    closeSync(this.fd!);
    this.fd = undefined;
    if (this.size === 0) unlinkSync(join(this.dir, this.file));
    else this.closed.push({ file: this.file, last: this.next - 1n });
  }
}

/** Opens a journal and reads it back past `mark`; each line not taken back is logged, and reported in the trail ahead of the rest. */
export function openJournal(dir: string, auditKey: Buffer, mark: bigint, log: Logger, write?: typeof writeSync) {
  const { journal, unstored, problems } = AuditJournal.open(dir, auditKey, mark, write);
  for (const p of problems) {
    if (p.torn)
      log.warn({ file: p.file, line: p.line }, 'audit journal: a line cut short by a crash, skipped (its operations were not answered)');
    else {
      log.error({ file: p.file, line: p.line, problem: p.problem }, 'audit journal: a line not taken back; marked in the trail');
      // First, so the report is stored before any segment holding the line is deleted.
      unstored.unshift({ ordinal: mark, event: systemEvent('audit.journal_rejected', 'failed', { ...p }), report: true });
    }
  }
  return { journal, unstored };
}

const mac = (key: Buffer, first: bigint, body: string) => createHmac('sha256', key).update(`${first}\n`).update(body).digest('hex');

/** A line's events, or why it cannot be taken back. */
function readLine(key: Buffer, text: string): { first: bigint; events: AuditEvent[] } | string {
  const m = LINE.exec(text);
  if (!m) return 'not a journal line';
  const first = BigInt(m[1]!);
  const want = Buffer.from(mac(key, first, m[3]!), 'hex');
  if (!timingSafeEqual(want, Buffer.from(m[2]!, 'hex'))) return 'its MAC does not match (altered, or not written by this gateway)';
  try {
    const events = JSON.parse(m[3]!) as (AuditEvent & { at: string })[];
    return { first, events: events.map((e) => ({ ...e, at: new Date(e.at) })) };
  } catch {
    return 'its events are not JSON';
  }
}
