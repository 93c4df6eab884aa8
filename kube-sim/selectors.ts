import type { KubeObject } from './resources.js';

/**
 * Label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors (metadata.name,
 * metadata.namespace, and = / == / != on other dotted fields), parsed once per request.
 */
export class SelectorError extends Error {}

type Requirement =
  | { key: string; op: 'eq' | 'ne'; value: string }
  | { key: string; op: 'in' | 'notin'; values: Set<string> }
  | { key: string; op: 'exists' | 'notexists' };

export type Matcher = (obj: KubeObject) => boolean;

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

function checkKey(key: string): string {
  if (!KEY.test(key)) throw new SelectorError(`invalid label key "${key}"`);
  return key;
}

export function parseLabelSelector(s: string | null): Matcher {
  if (s === null || s.trim() === '') return () => true;
  const reqs: Requirement[] = [];
  for (const term of splitTerms(s)) {
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(term)) !== null) {
      const values = new Set(
        (m[3] as string)
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== ''),
      );
      reqs.push({ key: checkKey(m[1] as string), op: m[2] as 'in' | 'notin', values });
    } else if ((m = /^(\S+?)\s*(==|=|!=)\s*(\S*)$/.exec(term)) !== null) {
      reqs.push({ key: checkKey(m[1] as string), op: m[2] === '!=' ? 'ne' : 'eq', value: m[3] as string });
    } else if ((m = /^!(\S+)$/.exec(term)) !== null) {
      reqs.push({ key: checkKey(m[1] as string), op: 'notexists' });
    } else if (/^\S+$/.test(term)) {
      reqs.push({ key: checkKey(term), op: 'exists' });
    } else {
      throw new SelectorError(`unable to parse requirement: "${term}"`);
    }
  }
  return (obj) => {
    const labels = obj.metadata?.labels ?? {};
    for (const r of reqs) {
      const v = labels[r.key];
      switch (r.op) {
        case 'eq':
          if (v !== r.value) return false;
          break;
        case 'ne':
          if (v === r.value) return false;
          break;
        case 'in':
          if (v === undefined || !r.values.has(v)) return false;
          break;
        case 'notin':
          if (v !== undefined && r.values.has(v)) return false;
          break;
        case 'exists':
          if (v === undefined) return false;
          break;
        case 'notexists':
          if (v !== undefined) return false;
          break;
      }
    }
    return true;
  };
}

function fieldValue(obj: KubeObject, path: string): string | undefined {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur === undefined || cur === null ? undefined : String(cur);
}

/** `supported`: the field labels the kind's real API server accepts (others are refused as there). */
export function parseFieldSelector(s: string | null, supported?: readonly string[]): Matcher {
  if (s === null || s.trim() === '') return () => true;
  const reqs: Array<{ path: string; neg: boolean; value: string }> = [];
  for (const term of splitTerms(s)) {
    const m = /^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (m === null) throw new SelectorError(`invalid field selector: "${term}"`);
    if (supported !== undefined && !supported.includes(m[1] as string))
      throw new SelectorError(`field label not supported: ${m[1]}`);
    reqs.push({ path: m[1] as string, neg: m[2] === '!=', value: m[3] as string });
  }
  return (obj) => reqs.every((r) => ((fieldValue(obj, r.path) ?? '') === r.value) !== r.neg);
}
