/**
 * @peculiar/x509 2.x resolves its algorithms through tsyringe, which refuses to load unless
 * `Reflect.getMetadata` exists. The usual answer is `import 'reflect-metadata'`, but that package is
 * not a dependency of this workspace; tsyringe only reads and writes plain metadata on classes, so
 * these three functions are all it needs. If a real polyfill is already loaded, it is left alone.
 * Replace this module with `import 'reflect-metadata'` if that package is ever added.
 */
type Target = object;
type Key = unknown;

interface ReflectMetadata {
  getMetadata?: (key: Key, target: Target, property?: PropertyKey) => unknown;
  getOwnMetadata?: (key: Key, target: Target, property?: PropertyKey) => unknown;
  defineMetadata?: (key: Key, value: unknown, target: Target, property?: PropertyKey) => void;
}

const reflect = Reflect as typeof Reflect & ReflectMetadata;

if (typeof reflect.getMetadata !== 'function') {
  const store = new WeakMap<Target, Map<PropertyKey | undefined, Map<Key, unknown>>>();

  const own = (target: Target, property: PropertyKey | undefined, create: boolean) => {
    let byProperty = store.get(target);
    if (!byProperty) {
      if (!create) return undefined;
      byProperty = new Map();
      store.set(target, byProperty);
    }
    let entries = byProperty.get(property);
    if (!entries && create) {
      entries = new Map();
      byProperty.set(property, entries);
    }
    return entries;
  };

  reflect.getOwnMetadata = (key, target, property) => own(target, property, false)?.get(key);
  reflect.defineMetadata = (key, value, target, property) => {
    own(target, property, true)!.set(key, value);
  };
  // Metadata is inherited along the prototype chain, as with reflect-metadata.
  reflect.getMetadata = (key, target, property) => {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
      const entries = own(t, property, false);
      if (entries?.has(key)) return entries.get(key);
    }
    return undefined;
  };
}

export {};
