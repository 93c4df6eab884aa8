import type { ListSemantics } from './patch.js';
import type { KubeObject } from './resources.js';

/**
 * Server-side apply, simplified in its bookkeeping but right in its merge. Each manager owns a set of
 * field paths (kept in metadata.managedFields as FieldsV1). Applying:
 *  - merges the applied configuration into the live object (maps by key, keyed lists by merge key,
 *    set lists as sets, everything else replaced);
 *  - conflicts when another manager owns a field the applied value changes, unless forced;
 *  - removes fields this manager applied before and no longer does, when nobody else owns them.
 * Updates (PUT, other patches) hand the fields they change to their manager.
 */
export class ApplyConflict extends Error {
  constructor(readonly conflicts: Array<{ manager: string; path: string; raw: string }>) {
    super(
      `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ` +
        conflicts.map((c) => `conflict with "${c.manager}": ${c.path}`).join('; '),
    );
  }
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const SEP = '\n';

/** Server-owned metadata that no manager owns. */
const UNTRACKED_META = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

function dotted(segments: string[]): string {
  // "spec.ports" for merge-key lookups: field names only, list elements as [].
  return segments
    .filter((s) => s.startsWith('f:') || s.startsWith('k:') || s.startsWith('v:'))
    .map((s) => (s.startsWith('f:') ? s.slice(2) : '[]'))
    .join('.')
    .replace(/\.\[\]/g, '[]');
}

function elementKey(el: Obj, keys: string[], defaults: Record<string, unknown> = {}): string {
  const k: Obj = {};
  for (const name of keys) k[name] = el[name] ?? defaults[name];
  return 'k:' + JSON.stringify(k);
}

/** Leaf field paths of a value, as segment lists joined by SEP. */
export function fieldPaths(value: unknown, sem: ListSemantics): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown, segs: string[]) => {
    const path = dotted(segs);
    if (isObject(v)) {
      const entries = Object.entries(v).filter(
        ([k]) => !(segs.length === 1 && segs[0] === 'f:metadata' && UNTRACKED_META.has(k)),
      );
      if (segs.length === 0) {
        for (const [k, x] of entries)
          if (k !== 'apiVersion' && k !== 'kind' && k !== 'status') walk(x, [`f:${k}`]);
        return;
      }
      // metadata with only its untracked keys (name, namespace…) is owned by nobody, as the real
      // server records it: counting it as a leaf made a second manager's apply conflict falsely.
      const onlyUntrackedMeta = segs.length === 1 && segs[0] === 'f:metadata';
      if (entries.length === 0 && !onlyUntrackedMeta) out.add(segs.join(SEP));
      for (const [k, x] of entries) walk(x, [...segs, `f:${k}`]);
      return;
    }
    if (Array.isArray(v)) {
      const keys = sem.mergeKeys[path];
      if (keys !== undefined && v.every(isObject)) {
        for (const el of v as Obj[]) {
          const at = [...segs, elementKey(el, keys, sem.keyDefaults?.[path])];
          out.add([...at, '.'].join(SEP));
          for (const [k, x] of Object.entries(el)) walk(x, [...at, `f:${k}`]);
        }
        return;
      }
      if (sem.setLists.has(path)) {
        for (const el of v) out.add([...segs, 'v:' + JSON.stringify(el)].join(SEP));
        return;
      }
    }
    out.add(segs.join(SEP));
  };
  walk(value, []);
  return out;
}

function navigate(obj: unknown, segs: string[], sem: ListSemantics): { found: boolean; value: unknown } {
  let cur: unknown = obj;
  const seen: string[] = [];
  for (const s of segs) {
    if (s === '.') break;
    if (s.startsWith('f:')) {
      if (!isObject(cur) || !(s.slice(2) in cur)) return { found: false, value: undefined };
      cur = cur[s.slice(2)];
    } else if (s.startsWith('k:')) {
      const keys = sem.mergeKeys[dotted(seen)] ?? [];
      const defaults = sem.keyDefaults?.[dotted(seen)];
      if (!Array.isArray(cur)) return { found: false, value: undefined };
      const el = cur.find((e) => isObject(e) && elementKey(e, keys, defaults) === s);
      if (el === undefined) return { found: false, value: undefined };
      cur = el;
    } else if (s.startsWith('v:')) {
      return {
        found: Array.isArray(cur) && cur.some((e) => 'v:' + JSON.stringify(e) === s),
        value: s.slice(2),
      };
    }
    seen.push(s);
  }
  return { found: true, value: cur };
}

function mergeApplied(live: unknown, applied: unknown, segs: string[], sem: ListSemantics): unknown {
  const path = dotted(segs);
  if (isObject(applied)) {
    const out: Obj = isObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) out[k] = mergeApplied(out[k], v, [...segs, `f:${k}`], sem);
    return out;
  }
  if (Array.isArray(applied) && Array.isArray(live)) {
    const keys = sem.mergeKeys[path];
    if (keys !== undefined && applied.every(isObject)) {
      const out = live.map((e) => e);
      const defaults = sem.keyDefaults?.[path];
      for (const el of applied as Obj[]) {
        const k = elementKey(el, keys, defaults);
        const at = out.findIndex((e) => isObject(e) && elementKey(e, keys, defaults) === k);
        if (at >= 0) out[at] = mergeApplied(out[at], el, [...segs, k], sem);
        else out.push(structuredClone(el));
      }
      return out;
    }
    if (sem.setLists.has(path)) {
      const out = [...live];
      for (const el of applied) if (!out.some((e) => JSON.stringify(e) === JSON.stringify(el))) out.push(el);
      return out;
    }
  }
  return structuredClone(applied);
}

function removePath(obj: Obj, segs: string[], sem: ListSemantics): void {
  const parentSegs = segs.slice(0, -1);
  const last = segs[segs.length - 1] as string;
  if (last === '.') {
    // the element itself: drop it from its list
    const listSegs = segs.slice(0, -2);
    const keySeg = segs[segs.length - 2] as string;
    const { found, value } = navigate(obj, listSegs, sem);
    if (found && Array.isArray(value)) {
      const keys = sem.mergeKeys[dotted(listSegs)] ?? [];
      const defaults = sem.keyDefaults?.[dotted(listSegs)];
      const at = value.findIndex((e) => isObject(e) && elementKey(e, keys, defaults) === keySeg);
      if (at >= 0) value.splice(at, 1);
    }
    return;
  }
  const { found, value: parent } = navigate(obj, parentSegs, sem);
  if (!found) return;
  if (last.startsWith('f:') && isObject(parent)) delete parent[last.slice(2)];
  else if (last.startsWith('v:') && Array.isArray(parent)) {
    const at = parent.findIndex((e) => 'v:' + JSON.stringify(e) === last);
    if (at >= 0) parent.splice(at, 1);
  }
}

interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion?: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Obj;
  subresource?: string;
}

export function toFieldsV1(paths: Set<string>): Obj {
  const root: Obj = {};
  for (const p of paths) {
    let cur = root;
    for (const s of p.split(SEP)) {
      if (s === '') continue;
      cur = (cur[s] ??= {}) as Obj;
    }
  }
  return root;
}

export function fromFieldsV1(tree: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (t: unknown, segs: string[]) => {
    if (!isObject(t)) return;
    const keys = Object.keys(t);
    if (keys.length === 0 && segs.length > 0) out.add(segs.join(SEP));
    for (const k of keys) {
      if (k === '.') out.add([...segs, '.'].join(SEP));
      else walk(t[k], [...segs, k]);
    }
  };
  walk(tree, []);
  return out;
}

function readManaged(obj: KubeObject): ManagedEntry[] {
  const mf = obj.metadata?.managedFields;
  return Array.isArray(mf) ? (mf as ManagedEntry[]) : [];
}

function writeManaged(obj: KubeObject, entries: ManagedEntry[]): void {
  const meta = (obj.metadata ??= {});
  const kept = entries.filter((e) => Object.keys(e.fieldsV1).length > 0);
  if (kept.length > 0) meta.managedFields = kept;
  else delete meta.managedFields;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export function serverSideApply(
  live: KubeObject | undefined,
  applied: KubeObject,
  manager: string,
  force: boolean,
  sem: ListSemantics,
  apiVersion: string,
): KubeObject {
  const base: KubeObject = live === undefined ? {} : structuredClone(live);
  const entries = readManaged(base);
  const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply');
  const before = mine === undefined ? new Set<string>() : fromFieldsV1(mine.fieldsV1);
  const appliedPaths = fieldPaths(applied, sem);

  const conflicts: Array<{ manager: string; path: string; raw: string }> = [];
  const others = entries.filter((e) => e !== mine);
  for (const other of others) {
    const owned = fromFieldsV1(other.fieldsV1);
    for (const p of appliedPaths) {
      if (!owned.has(p)) continue;
      const segs = p.split(SEP);
      // Only leaf values conflict; owning a list element or a set member is shared freely.
      const last = segs[segs.length - 1] as string;
      if (last === '.' || last.startsWith('v:')) continue;
      const liveV = navigate(base, segs, sem);
      const newV = navigate(applied, segs, sem);
      if (liveV.found && JSON.stringify(liveV.value) !== JSON.stringify(newV.value)) {
        if (force) owned.delete(p);
        else conflicts.push({ manager: other.manager, path: '.' + dotted(segs), raw: p });
      }
    }
    if (force) other.fieldsV1 = toFieldsV1(owned);
  }
  if (conflicts.length > 0) throw new ApplyConflict(conflicts);

  const merged = mergeApplied(base, applied, [], sem) as KubeObject;
  const ownedByOthers = new Set<string>();
  for (const other of others) for (const p of fromFieldsV1(other.fieldsV1)) ownedByOthers.add(p);
  const dropped = [...before].filter((p) => !appliedPaths.has(p) && !ownedByOthers.has(p));
  // Elements before their fields, so that removing an element does not leave its fields dangling.
  dropped.sort((a, b) => a.split(SEP).length - b.split(SEP).length);
  for (const p of dropped) removePath(merged as Obj, p.split(SEP), sem);

  const entry: ManagedEntry = {
    manager,
    operation: 'Apply',
    apiVersion,
    time: now(),
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(appliedPaths),
  };
  writeManaged(merged, [...others, entry]);
  return merged;
}

/** After a non-apply write: the fields that changed now belong to `manager`'s Update entry. */
export function recordUpdate(
  before: KubeObject | undefined,
  after: KubeObject,
  manager: string,
  sem: ListSemantics,
  apiVersion: string,
  subresource?: string,
): void {
  const oldPaths = before === undefined ? new Set<string>() : fieldPaths(stripManaged(before), sem);
  const newPaths = fieldPaths(stripManaged(after), sem);
  const changed = new Set<string>();
  for (const p of newPaths) {
    const segs = p.split(SEP);
    if (
      !oldPaths.has(p) ||
      JSON.stringify(navigate(before, segs, sem).value) !== JSON.stringify(navigate(after, segs, sem).value)
    )
      changed.add(p);
  }
  const entries = readManaged(before ?? {}).map((e) => ({ ...e }));
  if (changed.size === 0) {
    writeManaged(after, entries);
    return;
  }
  for (const e of entries) {
    if (e.manager === manager && e.operation === 'Update') continue;
    const owned = fromFieldsV1(e.fieldsV1);
    for (const p of changed) owned.delete(p);
    e.fieldsV1 = toFieldsV1(owned);
  }
  let mine = entries.find(
    (e) => e.manager === manager && e.operation === 'Update' && e.subresource === subresource,
  );
  if (mine === undefined) {
    mine = {
      manager,
      operation: 'Update',
      apiVersion,
      time: now(),
      fieldsType: 'FieldsV1',
      fieldsV1: {},
      ...(subresource ? { subresource } : {}),
    };
    entries.push(mine);
  }
  const owned = fromFieldsV1(mine.fieldsV1);
  for (const p of changed) owned.add(p);
  // Fields that no longer exist are owned by nobody.
  for (const p of owned) if (!newPaths.has(p)) owned.delete(p);
  mine.fieldsV1 = toFieldsV1(owned);
  mine.time = now();
  writeManaged(after, entries);
}

function stripManaged(o: KubeObject): KubeObject {
  const c = structuredClone(o);
  if (c.metadata !== undefined) delete c.metadata.managedFields;
  return c;
}
