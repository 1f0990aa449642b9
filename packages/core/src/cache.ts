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

/**
 * A bounded LRU whose entries also expire: a verified token until its `exp`, a parsed key for as long
 * as it is used. Expired entries are never returned and are dropped when met.
 */
export class ExpiringCache<V> {
  private readonly map = new Map<string, { v: V; until: number }>();
  constructor(
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(k: string): V | undefined {
    const e = this.map.get(k);
    if (e === undefined) return undefined;
    this.map.delete(k);
    if (e.until <= this.now()) return undefined;
    this.map.set(k, e);
    return e.v;
  }

  /** Keeps `v` until `until` (ms since the epoch; Infinity for no expiry), evicting the least recently used. */
  set(k: string, v: V, until: number) {
    if (this.capacity <= 0 || !(until > this.now())) return;
    this.map.delete(k);
    this.map.set(k, { v, until });
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }

  clear() {
    this.map.clear();
  }

  get size() {
    return this.map.size;
  }
}

/**
 * An `ExpiringCache` that loads what it misses, once: the requests that miss a key together share one
 * load. Without that, an entry expiring under load sent every request in flight to the store at once
 * (32 identity lookups, each parsing its certificate, stalled the event loop ~120 ms). `clear()` is for
 * a change: a load already under way then answers only the requests that were waiting for it, and is
 * neither cached nor shared with later ones, which load the new state. A failed load is not cached,
 * and a load is shared for `shareMs` at most: one that hangs (a dead connection) holds up the requests
 * that joined it, not every later one.
 */
export class LoadingCache<V> {
  // Boxed, so that a load's `undefined` (nothing found) is remembered too.
  private readonly entries: ExpiringCache<{ v: V }>;
  private readonly loading = new Map<string, { generation: number; since: number; p: Promise<V> }>();
  private generation = 0;

  constructor(
    private readonly ttlMs: number,
    capacity = 10_000,
    private readonly now: () => number = Date.now,
    private readonly shareMs = 5_000,
  ) {
    this.entries = new ExpiringCache<{ v: V }>(capacity, now);
  }

  /** The value of `k`, from `load` on a miss; kept `ttlMs`, or until `expires(v)` when that is sooner. */
  get(k: string, load: () => Promise<V>, expires?: (v: V) => number): Promise<V> {
    const hit = this.entries.get(k);
    if (hit) return Promise.resolve(hit.v);
    const under = this.loading.get(k);
    if (under && under.generation === this.generation && this.now() - under.since < this.shareMs) return under.p;
    const generation = this.generation;
    let loaded: Promise<V>;
    try {
      loaded = load();
    } catch (e) {
      loaded = Promise.reject(e);
    }
    const p = loaded.then((v) => {
      if (generation === this.generation) this.entries.set(k, { v }, Math.min(this.now() + this.ttlMs, expires?.(v) ?? Infinity));
      return v;
    });
    const mine = { generation, since: this.now(), p };
    this.loading.set(k, mine);
    const done = () => {
      if (this.loading.get(k) === mine) this.loading.delete(k);
    };
    p.then(done, done);
    return p;
  }

  /** What a change made `k`, known without a load (one under way is not cached). */
  put(k: string, v: V) {
    this.generation++;
    this.entries.set(k, { v }, this.now() + this.ttlMs);
  }

  clear() {
    this.generation++;
    this.entries.clear();
  }
}
