import { ServerResponse, type IncomingMessage } from 'node:http';

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
 * At most `MAX_DUE` wait: Node stops reading a pipelining client once its answers pile up unsent, and
 * with nothing sent it would run thousands of one client's requests in one turn.
 */
const MAX_DUE = 64;
const due: [CoalescedResponse, unknown[]][] = [];
let scheduled = false;
const end = ServerResponse.prototype.end as (this: ServerResponse, ...args: unknown[]) => ServerResponse;

function flush() {
  scheduled = false;
  const batch = due.splice(0);
  for (const [res, args] of batch) {
    try {
      end.apply(res, args);
    } catch (err) {
      // Never thrown out of the check phase (it would take the process down), never silent, and never
      // in the way of the rest of the batch: the connection goes.
      console.error('polykms: a response could not be sent', err);
      try {
        res.destroy(err as Error);
      } catch {
        // already gone
      }
    }
  }
}

/** node:http's response, its `end` deferred to the end of the turn (the `ServerResponse` server option). */
export class CoalescedResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  override end(...args: unknown[]): this {
    due.push([this, args]);
    if (due.length >= MAX_DUE) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
    return this;
  }
}
