// Thread priorities (Linux). The event loop is the one thread every request passes through: HTTP,
// TLS records, JSON, routing, audit. The other threads of the process (libuv's pool running the
// asynchronous RSA and ECDSA, our crypto workers, the embedded database, V8's helpers) do work that
// can wait a moment. With equal priorities the scheduler gave the event loop a fifth of the machine
// while four RSA threads ran, and every request queued behind it: RSA-2048 signing through a dialect
// reached 0.4 of raw signing. One nice level for all of them fixes that; they still take every cycle
// the event loop leaves. Plain JavaScript: worker threads load it without the TypeScript loader.
import { readdirSync, readlinkSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { getPriority, setPriority } from 'node:os';

export const BACKGROUND_NICE = 10;

/** Raises a thread's nice value to BACKGROUND_NICE (never lowers it). False where that cannot be done. */
export function lowerPriority(tid) {
  try {
    if (getPriority(tid) < BACKGROUND_NICE) setPriority(tid, BACKGROUND_NICE);
    return true;
  } catch {
    return false; // not Linux, a thread already gone, or not allowed: it keeps its priority
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
 * For the process, once started: every thread but the main one. libuv starts its whole pool on first
 * use, so a file-system call makes sure it exists first; threads started later by the main thread
 * inherit its priority, which is why the workers lower themselves. Returns how many were lowered.
 */
export async function favourEventLoop() {
  await stat('/');
  let tids;
  try {
    tids = readdirSync('/proc/self/task').map(Number);
  } catch {
    return 0;
  }
  return tids.filter((t) => t !== process.pid && lowerPriority(t)).length;
}
