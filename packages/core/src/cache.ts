/**
 * A bounded LRU of parsed key versions. Entries are immutable (a version's material never changes),
 * so staleness is only about destroyed keys: those are evicted by key id, locally at once and in other
 * processes through the store's notifications. State is never read from here; it comes from the
 * database on every use.
 */
export class KeyCache<V> {
  private readonly map = new Map<string, { keyId: string; v: V }>();
  private readonly byKey = new Map<string, Set<string>>();
  hits = 0;
  misses = 0;
  constructor(private readonly capacity: number) {}

  get(keyId: string, version: number): V | undefined {
    const k = `${keyId}/${version}`;
    const e = this.map.get(k);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(k);
    this.map.set(k, e);
    return e.v;
  }

  set(keyId: string, version: number, v: V) {
    if (this.capacity <= 0) return;
    const k = `${keyId}/${version}`;
    this.map.delete(k);
    this.map.set(k, { keyId, v });
    let s = this.byKey.get(keyId);
    if (!s) this.byKey.set(keyId, (s = new Set()));
    s.add(k);
    while (this.map.size > this.capacity) {
      const [oldest, e] = this.map.entries().next().value!;
      this.remove(oldest, e.keyId);
    }
  }

  evictKey(keyId: string) {
    for (const k of this.byKey.get(keyId) ?? []) this.map.delete(k);
    this.byKey.delete(keyId);
  }

  private remove(k: string, keyId: string) {
    this.map.delete(k);
    const s = this.byKey.get(keyId);
    s?.delete(k);
    if (s && s.size === 0) this.byKey.delete(keyId);
  }

  clear() {
    this.map.clear();
    this.byKey.clear();
  }

  get size() {
    return this.map.size;
  }
}
