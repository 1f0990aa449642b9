// Thread priorities (Linux). The event loop is the one thread every request passes through: HTTP,
// TLS records, JSON, routing, audit. The threads doing crypto or storage for it (libuv's pool running
// the asynchronous RSA and ECDSA, our crypto workers, the embedded database) do work that can wait a
// moment. With equal priorities the scheduler gave the event loop about a fifth of the machine while
// four RSA threads ran, and every request queued behind it. One nice level below the event loop fixes
// that; they still take every cycle it leaves. Plain JavaScript: worker threads load it without the
// TypeScript loader.
import { readlinkSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { getPriority, setPriority } from 'node:os';

/**
 * The nice level of those threads: `POLYKMS_BACKGROUND_NICE`, 0 (leave every thread at the event
 * loop's priority) to 19; 10 when unset.
 */
export function backgroundNice(env = process.env) {
  const v = env.POLYKMS_BACKGROUND_NICE;
  if (v === undefined || v === '') return 10;
  const n = /^\d{1,2}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 0 && n <= 19)) throw new Error(`POLYKMS_BACKGROUND_NICE must be a whole number from 0 (off) to 19; got '${v}'`);
  return n;
}

/** Raises a thread's nice value to backgroundNice() (never lowers it). False where that is not done. */
export function lowerPriority(tid) {
  try {
    const nice = backgroundNice();
    if (nice === 0) return false;
    if (getPriority(tid) < nice) setPriority(tid, nice);
    return true;
  } catch {
    return false; // not Linux, a thread already gone, not allowed, or a bad setting (refused at start-up)
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

/**
 * For the process, once started: libuv's thread pool, which runs the asynchronous RSA and ECDSA
 * signatures. A pool thread is found by asking it: `readlink('/proc/thread-self')` runs on the pool
 * and names the thread that ran it; a few rounds of concurrent calls meet every thread. V8's own
 * helper threads are left alone on purpose: garbage collection waits for them (lowered, a scavenge
 * took twice as long). Our workers lower themselves. Returns how many pool threads were lowered.
 */
export async function favourEventLoop() {
  if (backgroundNice() === 0) return 0;
  const size = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);
  const found = new Set();
  try {
    for (let round = 0; round < 50 && found.size < size; round++) {
      const links = await Promise.all(Array.from({ length: 4 * size }, () => readlink('/proc/thread-self')));
      for (const l of links) found.add(Number(l.split('/').pop()));
    }
  } catch {
    return 0; // not Linux
  }
  found.delete(process.pid);
  return [...found].filter((t) => lowerPriority(t)).length;
}
