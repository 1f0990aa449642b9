// @ts-check
// Thread priorities (Linux). The event loop is the one thread every request passes through: HTTP,
// TLS records, JSON, routing, audit. The threads doing crypto or storage for it (libuv's pool running
// the asynchronous RSA and ECDSA, our crypto workers, the embedded database) do work that can wait a
// moment. With equal priorities the scheduler gave the event loop about a fifth of the machine while
// four RSA threads ran, and every request queued behind it. One nice level below the event loop fixes
// that; they still take every cycle it leaves. Plain JavaScript: worker threads load it without the
// TypeScript loader.
import { existsSync, readlinkSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { availableParallelism, getPriority, setPriority } from 'node:os';

/**
 * How far below the event loop those threads run: `POLYKMS_BACKGROUND_NICE`, 0 (off: every thread at
 * the event loop's priority) to 19. Unset: 10, or 0 on a single CPU, where a busy event loop would
 * leave the crypto it is waiting for a tenth of the machine.
 */
export function backgroundNice(env = process.env) {
  const v = env.POLYKMS_BACKGROUND_NICE;
  if (v === undefined || v === '') return availableParallelism() < 2 ? 0 : 10;
  const n = /^\d{1,2}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 0 && n <= 19)) throw new Error(`POLYKMS_BACKGROUND_NICE must be a whole number from 0 (off) to 19; got '${v}'`);
  return n;
}

/**
 * Thread ids are only usable if /proc is this process's own: in a PID namespace without its own
 * /proc mount, /proc/thread-self names threads of the outer namespace, and renicing that number
 * here could hit an unrelated process.
 */
let procIsOurs;
function ownProc() {
  if (procIsOurs === undefined) {
    try {
      procIsOurs = readlinkSync('/proc/self') === String(process.pid);
    } catch {
      procIsOurs = false; // not Linux
    }
  }
  return procIsOurs;
}

/**
 * Sets one of this process's threads `backgroundNice()` levels below the main thread (at most 19;
 * never raises a priority). False where that is not done.
 */
function lowerPriority(tid) {
  try {
    const step = backgroundNice();
    if (step === 0 || !ownProc() || !existsSync(`/proc/self/task/${tid}`) || tid === process.pid) return false;
    const nice = Math.min(19, getPriority(process.pid) + step);
    if (getPriority(tid) < nice) setPriority(tid, nice);
    return true;
  } catch {
    return false; // a thread already gone, not allowed, or a bad setting (refused at start-up)
  }
}

/** For a worker thread, at its start: itself. */
export function lowerThisThread() {
  try {
    return lowerPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()));
  } catch {
    return false;
  }
}

/** libuv's pool size, read as libuv reads it (atoi; 0 counts as 1; at most 1024). */
function poolSize() {
  const v = process.env.UV_THREADPOOL_SIZE;
  if (v === undefined) return 4;
  return Math.min(1024, Math.max(1, Number.parseInt(v, 10) || 0));
}

/**
 * For the process, before it serves: libuv's thread pool, which runs the asynchronous RSA and ECDSA
 * signatures. A pool thread is found by asking it: `readlink('/proc/thread-self')` runs on the pool
 * and names the thread that ran it; a few rounds of concurrent calls meet every thread (at most 50
 * rounds of at most 256 calls: a few ms for the usual 4 threads, ~0.2 s for 1024). V8's own helper
 * threads are left alone on purpose: garbage collection waits for them (lowered, a scavenge took
 * twice as long). Our workers lower themselves. Returns how many pool threads were lowered.
 */
export async function favourEventLoop() {
  if (backgroundNice() === 0 || !ownProc()) return 0;
  const size = poolSize();
  const found = new Set();
  try {
    for (let round = 0; round < 50 && found.size < size; round++) {
      const links = await Promise.all(Array.from({ length: Math.min(4 * size, 256) }, () => readlink('/proc/thread-self')));
      for (const l of links) found.add(Number(l.split('/').pop()));
      // On a busy machine the first thread awake can take a whole round; a pause lets the ones that
      // worked go back to sleep, so the next round wakes the others first.
      if (found.size < size) await new Promise((r) => setTimeout(r, 2));
    }
  } catch {
    return 0;
  }
  return [...found].filter((t) => lowerPriority(t)).length;
}
