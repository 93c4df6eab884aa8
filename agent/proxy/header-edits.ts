import { canonicalName } from '../../tunnel/header-packing.js';
import type { HeaderEdits, RouteEdits } from '../routing/rule-action.js';

/**
 * The Gateway API's header filters applied to a flat name/value list, in the API's order: set
 * replaces every value of a name, add appends to the value there (`a,b`, one line), remove drops the
 * name. `lower`: the list's names are lower case (a request to an origin) rather than Go-canonical
 * (a response to the tunnel). Names a filter may not touch were refused when the route compiled.
 */
function apply(list: string[], e: HeaderEdits, lower: boolean, from: number): string[] {
  let out = list;
  for (const [name, value] of e.set) {
    out = without(out, name, from);
    out.push(lower ? name : canonicalName(name), value);
  }
  for (const [name, value] of e.add) {
    const i = indexOf(out, name, from);
    if (i < 0) out.push(lower ? name : canonicalName(name), value);
    else out[i + 1] = `${out[i + 1] as string},${value}`;
  }
  for (const name of e.remove) out = without(out, name, from);
  return out;
}

function indexOf(list: string[], lowerName: string, from: number): number {
  for (let i = from; i < list.length; i += 2) if ((list[i] as string).toLowerCase() === lowerName) return i;
  return -1;
}

function without(list: string[], lowerName: string, from: number): string[] {
  if (indexOf(list, lowerName, from) < 0) return list;
  const out = list.slice(0, from);
  for (let i = from; i < list.length; i += 2)
    if ((list[i] as string).toLowerCase() !== lowerName) out.push(list[i] as string, list[i + 1] as string);
  return out;
}

/**
 * A request's origin headers (originHeaders(): Host first) after the route's filters: URLRewrite's
 * hostname becomes Host, and the header filters never move or drop Host itself.
 */
export function editRequestHeaders(flat: string[], edits: RouteEdits): string[] {
  let out = flat;
  if (edits.host !== null) out[1] = edits.host;
  for (const e of edits.request) out = apply(out, e, true, 2);
  return out;
}

/** An origin's response header list (Go-canonical names) after the route's ResponseHeaderModifiers. */
export function editResponseHeaders(list: string[], edits: RouteEdits): string[] {
  let out = list;
  for (const e of edits.response) out = apply(out, e, false, 0);
  return out;
}
