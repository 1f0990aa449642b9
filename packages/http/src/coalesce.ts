import type { ServerResponse } from 'node:http';

/**
 * Responses finished during one turn of the event loop go out together at the end of the turn (the
 * check phase), instead of one by one between the handlers of the other requests of that turn.
 *
 * Why: sending a response wakes its reader. Spaced out by ~100 us of handler work, every response
 * found a client that had gone back to sleep, and waking a sleeping CPU is what cost most here (a
 * virtual machine: ~14% of the event loop in `sock_def_readable` under `perf`, against ~8% for a bare
 * echo). Written back to back, the first wakes it and the rest find it awake. A response waits at most
 * for the rest of its turn; a lone request, not at all.
 *
 * Every `end` of a response is deferred, in call order, so a second `end` can never overtake the first.
 */
const due: (() => void)[] = [];
let scheduled = false;

function flush() {
  scheduled = false;
  const batch = due.splice(0);
  for (const send of batch) send();
}

export function coalesceEnd(res: ServerResponse): void {
  const end = res.end;
  res.end = function deferredEnd(this: ServerResponse, ...args: unknown[]) {
    due.push(() => {
      try {
        (end as (...a: unknown[]) => unknown).apply(res, args);
      } catch (err) {
        // Never thrown out of the check phase (it would take the process down): the connection goes.
        res.destroy(err as Error);
      }
    });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
    return this;
  } as ServerResponse['end'];
}
