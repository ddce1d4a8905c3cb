/**
 * lightning-fs in Node: IndexedDB from fake-indexeddb, and a `navigator` without Web Locks.
 * Node 20 and 22 have no `navigator.locks`, so lightning-fs takes its IndexedDB mutex. Node ≥ 24
 * has Web Locks, and lightning-fs's lock wait (Mutex2.wait) then starts a 10-minute timer it never
 * clears, which keeps a test process alive long after its tests passed. Replacing `navigator` with
 * a plain object gives every Node the same path (browsers keep their own Web Locks).
 */
export async function lightningFsEnvironment(): Promise<void> {
  if ((globalThis as { navigator?: { locks?: unknown } }).navigator?.locks !== undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  }
  (globalThis as { navigator?: unknown }).navigator ??= {};
  const fakeIndexedDb = 'fake-indexeddb/auto'; // no type declarations: import by a string variable
  await import(fakeIndexedDb);
}
