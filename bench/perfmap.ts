/** A compiled function's name by an address in it, or undefined. */
export type Names = (address: number) => string | undefined;

/**
 * The names of V8's compiled code by address, from the text of the map `--perf-basic-prof`
 * writes (/tmp/perf-PID.map).
 * V8 reuses the space of code it collected, so an address can appear more than once: the map is in the
 * order code was made, and the last span holding an address is what ran there after the warm-up.
 */
export function jitNames(map: string): Names {
  const spans = map
    .split('\n')
    .map((l) => /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    // Addresses are 48 bits: a double holds them, and compares far faster than a BigInt.
    .map((m) => ({ start: Number.parseInt(m[1]!, 16), end: Number.parseInt(m[1]!, 16) + Number.parseInt(m[2]!, 16), name: m[3]! }));
  const known = new Map<number, string | undefined>();
  return (a) => {
    if (!known.has(a)) known.set(a, spans.findLast((s) => a >= s.start && a < s.end)?.name);
    return known.get(a);
  };
}
