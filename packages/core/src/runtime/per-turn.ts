/**
 * Gathers what one event-loop turn produces and hands it over as one list at the end of the turn
 * (after its I/O callbacks): one message between processes for all the requests of a turn instead of
 * one each, since every message costs a system call and a wake-up of the other side.
 */
export function perTurn<T>(flush: (items: T[]) => void): (item: T) => void {
  let items: T[] = [];
  return (item) => {
    if (items.push(item) > 1) return;
    setImmediate(() => {
      const batch = items;
      items = [];
      flush(batch);
    });
  };
}

/** Items handled between two yields to the event loop by long loops that share its thread with requests. */
export const ITEMS_A_TURN = 256;

/** Whether a long loop yields before its item `i`: it hands the turn back after every `ITEMS_A_TURN` items. */
export const yieldsBefore = (i: number) => i > 0 && i % ITEMS_A_TURN === 0;

/** Resolves in the next turn of the event loop, after the I/O that waited meanwhile. */
export const nextTurn = () => new Promise<void>((r) => setImmediate(r));
