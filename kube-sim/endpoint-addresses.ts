import { isIP } from 'node:net';
import type { FieldError, KubeObject } from './resources.js';

/**
 * The API server's check of EndpointSlice addresses (ValidateEndpointIP): an address must be an IP of
 * the slice's addressType, and not unspecified, loopback, link-local or link-local multicast, since
 * kube-proxy could not send traffic there. Local demos and tests run their pods as processes on
 * 127.0.0.1, so kube-sim can be told to let loopback through (`--allow-loopback-endpoints`); the rest
 * is always refused.
 */
export interface EndpointPolicy {
  allowLoopback: boolean;
}

function special(ip: string, family: 4 | 6): string | null {
  if (family === 4) {
    const [a, b, c] = ip.split('.').map(Number) as [number, number, number];
    if (ip === '0.0.0.0') return 'may not be unspecified (0.0.0.0)';
    if (a === 127) return 'may not be in the loopback range (127.0.0.0/8, ::1/128)';
    if (a === 169 && b === 254) return 'may not be in the link-local range (169.254.0.0/16, fe80::/10)';
    if (a === 224 && b === 0 && c === 0)
      return 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)';
    return null;
  }
  const lower = ip.toLowerCase();
  if (lower === '::') return 'may not be unspecified (::)';
  if (lower === '::1') return 'may not be in the loopback range (127.0.0.0/8, ::1/128)';
  if (/^fe[89ab]/.test(lower)) return 'may not be in the link-local range (169.254.0.0/16, fe80::/10)';
  if (/^ff02:/.test(lower)) return 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)';
  return null;
}

export function validateEndpointAddresses(obj: KubeObject, policy: EndpointPolicy): FieldError[] {
  const type = obj.addressType;
  if (type !== 'IPv4' && type !== 'IPv6') return [];
  const family = type === 'IPv4' ? 4 : 6;
  const errs: FieldError[] = [];
  const endpoints = Array.isArray(obj.endpoints) ? (obj.endpoints as Array<{ addresses?: unknown }>) : [];
  endpoints.forEach((e, i) => {
    const addresses = Array.isArray(e?.addresses) ? (e.addresses as unknown[]) : [];
    addresses.forEach((a, j) => {
      const field = `endpoints[${i}].addresses[${j}]`;
      const ip = String(a);
      if (isIP(ip) !== family) {
        errs.push({
          field,
          type: 'FieldValueInvalid',
          message: `Invalid value: "${ip}": must be a valid ${type} address`,
        });
        return;
      }
      const why = special(ip, family);
      if (why === null) return;
      if (policy.allowLoopback && why.includes('loopback')) return;
      errs.push({ field, type: 'FieldValueInvalid', message: `Invalid value: "${ip}": ${why}` });
    });
  });
  return errs;
}
