import { describe, expect, it } from 'vitest';
import { perTurn } from './per-turn.ts';

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('perTurn', () => {
  it('hands over what one turn gathered as one list, in order, and starts afresh in the next turn', async () => {
    const flushed: number[][] = [];
    const add = perTurn<number>((b) => flushed.push(b));
    add(1);
    add(2);
    add(3);
    expect(flushed).toEqual([]);
    await turn();
    expect(flushed).toEqual([[1, 2, 3]]);
    add(4);
    await turn();
    expect(flushed).toEqual([[1, 2, 3], [4]]);
    await turn();
    expect(flushed).toHaveLength(2);
  });

  it('takes an item added while a list is being handed over into the next list', async () => {
    const flushed: number[][] = [];
    const add = perTurn<number>((b) => {
      flushed.push(b);
      if (b[0] === 1) add(2);
    });
    add(1);
    await turn();
    await turn();
    expect(flushed).toEqual([[1], [2]]);
  });
});
