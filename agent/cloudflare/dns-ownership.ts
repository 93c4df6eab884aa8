/**
 * Ownership of DNS names, external-dns style: beside each name the agent manages sits a TXT record
 * saying who made it. A name is the agent's only while that TXT names this agent's owner id; anything
 * else at the name (any type, any owner, or no TXT at all) belongs to someone else and is left alone.
 *
 * The TXT cannot share the CNAME's name (a CNAME excludes every other record there), so it lives at
 * `_tunnel-ingress.<name>`; for a wildcard `*.<suffix>`, at `_tunnel-ingress-wildcard.<suffix>`.
 */
export const HERITAGE = 'tunnel-ingress';
const PREFIX = '_tunnel-ingress.';
const WILDCARD_PREFIX = '_tunnel-ingress-wildcard.';

export interface Ownership {
  owner: string;
  /** ingress/NAMESPACE/NAME */
  resource: string;
}

export function ownershipName(host: string): string {
  return host.startsWith('*.') ? WILDCARD_PREFIX + host.slice(2) : PREFIX + host;
}

/** The host an ownership TXT speaks for, or null for any other name. */
export function hostOfOwnershipName(name: string): string | null {
  if (name.startsWith(WILDCARD_PREFIX)) return '*.' + name.slice(WILDCARD_PREFIX.length);
  if (name.startsWith(PREFIX)) return name.slice(PREFIX.length);
  return null;
}

export function formatOwnership(o: Ownership): string {
  return `"heritage=${HERITAGE},${HERITAGE}/owner=${o.owner},${HERITAGE}/resource=${o.resource}"`;
}

/** Null unless the text is one of our heritage records (of any owner). */
export function parseOwnership(content: string): Ownership | null {
  const text = content.replace(/^"|"$/g, '');
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  if (fields.get('heritage') !== HERITAGE) return null;
  const owner = fields.get(`${HERITAGE}/owner`);
  if (owner === undefined || owner === '') return null;
  return { owner, resource: fields.get(`${HERITAGE}/resource`) ?? '' };
}
