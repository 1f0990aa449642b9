// Reading what callgrind and V8 wrote about a counted run (bench/instructions.ts).

/** A compiled function's name by an address in it, or undefined. */
export type Names = (address: number) => string | undefined;

/**
 * The names of V8's compiled code by address, from the text of the map `--perf-basic-prof` writes
 * (/tmp/perf-PID.map), as it stood when the window closed. V8 reuses the space of code it collected,
 * so an address can appear more than once: the map is in the order code was made, and the last span
 * holding an address is what ran there last.
 */
export function jitNames(map: string): Names {
  const spans = map
    .split('\n')
    .map((l) => /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    // User-space addresses fit a double exactly, and doubles compare faster than BigInts.
    .map((m) => ({ start: Number.parseInt(m[1]!, 16), end: Number.parseInt(m[1]!, 16) + Number.parseInt(m[2]!, 16), name: m[3]! }));
  const known = new Map<number, string | undefined>();
  return (a) => {
    if (!known.has(a)) known.set(a, spans.findLast((s) => a >= s.start && a < s.end)?.name);
    return known.get(a);
  };
}

/**
 * The function lines of `callgrind_annotate` output: instructions, and the function as `file:name`
 * without the file, where an unknown function is its address. `depth` is a recursion's inner level
 * (the `'2` callgrind appends), whose cost an inclusive listing already holds in the outer level.
 */
export function annotatedCosts(annotated: string): { ir: number; fn: string; depth: number }[] {
  const out: { ir: number; fn: string; depth: number }[] = [];
  for (const line of annotated.split('\n')) {
    const m = /^\s*([\d,]+) \([\s\d.]+%\)\s+(.+?)(?: \[[^\]]*\])?$/.exec(line);
    if (!m || m[2]!.includes('PROGRAM TOTALS')) continue;
    const named = m[2]!.replace(/^[^:]*:/, '');
    const r = /'(\d+)$/.exec(named);
    out.push({ ir: Number(m[1]!.replaceAll(',', '')), fn: r ? named.slice(0, r.index) : named, depth: r ? Number(r[1]) : 1 });
  }
  return out;
}

/**
 * The instructions V8 spent compiling, from `callgrind_annotate --inclusive=yes` of a thread: the
 * inclusive cost of V8's runtime entries into its compilers (bytecode, baseline, optimised, on-stack
 * replacement), each once.
 */
export function compileShare(annotated: string): number {
  return annotatedCosts(annotated)
    .filter((c) => c.depth === 1 && /^v8::internal::Runtime_Compile(?:Lazy|Baseline|Optimized(?:OSR\w*)?)\(/.test(c.fn))
    .reduce((n, c) => n + c.ir, 0);
}
