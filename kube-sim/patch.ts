import type { ResourceKind } from './resources.js';
import { METADATA_MERGE_KEYS, METADATA_SET_LISTS } from './resources.js';

/**
 * JSON merge patch (RFC 7386) and strategic merge patch, the formats kubectl and client libraries send.
 * Strategic merge uses the served kinds' list merge keys; lists without one are replaced whole, as the
 * API server does for lists with no patch strategy.
 */
export class PatchError extends Error {}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v) as Json;
  }
  return out;
}

/** The list merge keys and set-like lists of a kind, by dotted path with [] for list elements. */
export interface ListSemantics {
  mergeKeys: Record<string, string[]>;
  setLists: Set<string>;
  keyDefaults?: Record<string, Record<string, unknown>>;
}

/** List semantics for server-side apply (x-kubernetes-list-map-keys). */
export function listSemantics(r: ResourceKind): ListSemantics {
  return {
    mergeKeys: { ...METADATA_MERGE_KEYS, ...r.mergeKeys },
    setLists: new Set([...METADATA_SET_LISTS, ...(r.setLists ?? [])]),
    keyDefaults: r.keyDefaults ?? {},
  };
}

/** List semantics for strategic merge patch (patchMergeKey, which may be narrower). */
export function patchSemantics(r: ResourceKind): ListSemantics {
  const sem = listSemantics(r);
  return { ...sem, mergeKeys: { ...sem.mergeKeys, ...r.patchMergeKeys } };
}

const child = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

function sameKey(a: JsonObject, b: JsonObject, keys: string[]): boolean {
  return keys.every((k) => JSON.stringify(a[k] ?? null) === JSON.stringify(b[k] ?? null));
}

export function strategicMergePatch(target: unknown, patch: unknown, sem: ListSemantics): unknown {
  return smpValue(target, patch, '', sem);
}

function smpValue(target: unknown, patch: unknown, path: string, sem: ListSemantics): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _drop, ...rest } = patch;
    return structuredClone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  const retain = patch.$retainKeys;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) continue; // order only; element membership comes from the list itself
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (!Array.isArray(v)) throw new PatchError(`${k} must be a list`);
      const cur = out[field];
      if (Array.isArray(cur))
        out[field] = cur.filter((x) => !v.some((d) => JSON.stringify(d) === JSON.stringify(x)));
      continue;
    }
    const p = child(path, k);
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) {
      const merged = smpList(out[k], v, p, sem);
      out[k] = merged;
      continue;
    }
    const next = smpValue(out[k], v, p, sem);
    if (next === undefined) delete out[k];
    else out[k] = next as Json;
  }
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }
  return out;
}

function smpList(target: unknown, patch: Json[], path: string, sem: ListSemantics): Json[] {
  const keys = sem.mergeKeys[path];
  const current = Array.isArray(target) ? target : [];
  if (sem.setLists.has(path)) {
    const out = [...current];
    for (const v of patch) if (!out.some((x) => JSON.stringify(x) === JSON.stringify(v))) out.push(v);
    return out;
  }
  if (keys === undefined) {
    if (patch.some((e) => isObject(e) && e.$patch !== undefined))
      throw new PatchError(`${path}: $patch directives need a list with a merge key`);
    return structuredClone(patch);
  }
  if (patch.some((e) => isObject(e) && e.$patch === 'replace')) {
    return patch.filter((e) => !(isObject(e) && e.$patch === 'replace')).map((e) => structuredClone(e));
  }
  const out: Json[] = current.map((e) => structuredClone(e));
  for (const el of patch) {
    if (!isObject(el))
      throw new PatchError(`${path}: elements must be objects to merge on ${keys.join(',')}`);
    const at = out.findIndex((e) => isObject(e) && sameKey(e, el, keys));
    if (el.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = smpValue(out[at], el, `${path}[]`, sem) as Json;
    else out.push(smpValue(undefined, el, `${path}[]`, sem) as Json);
  }
  return out;
}
