import { durationMs } from '../../common/duration.js';
import { createHash } from 'node:crypto';
import tls from 'node:tls';
import type { Ingress } from './types.js';

/**
 * How the agent connects to an Ingress's endpoints, from its annotations (docs/annotations.md):
 * plain HTTP/1.1 by default; H2C and GRPC speak HTTP/2 with prior knowledge, GRPCS HTTP/2 over TLS, and
 * HTTPS offers h2 and http/1.1 through ALPN. With TLS (HTTPS, GRPCS) the agent verifies the origin's certificate against the system
 * roots plus a CA bundle from a Secret (`origin-ca-secret`, key ca.crt), with SNI from `origin-sni` or
 * else the request's Host; `origin-insecure-skip-verify: "true"` turns verification off, and says so.
 * Compiled once per route table; identical settings share one key, and so one connection pool.
 */
export interface OriginOptions {
  /** the backend-protocol as given (HTTP, HTTPS, H2C, GRPC, GRPCS) */
  protocol: string;
  tls: boolean;
  /** HTTP/2 with node:http2: prior knowledge without TLS, ALPN h2 with it */
  h2: boolean;
  caPem: string | null;
  sni: string | null;
  insecure: boolean;
  /** null: the agent's defaults (cloudflared's: 30 s connect, 120 s for the response headers) */
  connectTimeoutMs: number | null;
  headersTimeoutMs: number | null;
  /** null: a websocket may stay idle for ever */
  websocketIdleMs: number | null;
  /** identical settings, identical key (and connection pool) */
  key: string;
  /**
   * `namespace/name` of the origin CA Secret while the agent has not read it yet: the route answers
   * 503 until it has (never the system roots instead of the Secret's CA); null otherwise.
   */
  pendingSecret?: string | null;
  /** false: only `caPem` verifies the origin (a BackendTLSPolicy's CA bundle), not the system roots too */
  systemRoots?: boolean;
  /**
   * A BackendTLSPolicy's subjectAltNames (`DNS:name`, `URI:uri`): the certificate must carry one,
   * and the SNI name is then not checked.
   */
  subjectAltNames?: readonly string[] | null;
}

export const PLAIN: OriginOptions = Object.freeze({
  protocol: 'HTTP',
  tls: false,
  h2: false,
  caPem: null,
  sni: null,
  insecure: false,
  connectTimeoutMs: null,
  headersTimeoutMs: null,
  websocketIdleMs: null,
  key: 'http',
});

/** HTTP/2 with prior knowledge, the agent's default timeouts: a Service port's `kubernetes.io/h2c` appProtocol. */
export const H2C: OriginOptions = Object.freeze({ ...PLAIN, protocol: 'H2C', h2: true, key: 'H2C|||' });

export const CONNECT_TIMEOUT = 'tunnel-ingress.dev/connect-timeout';
export const RESPONSE_HEADER_TIMEOUT = 'tunnel-ingress.dev/response-header-timeout';
export const WEBSOCKET_IDLE_TIMEOUT = 'tunnel-ingress.dev/websocket-idle-timeout';

/** A duration (common/duration.ts) from 1 ms to 1 h; null when invalid. */
export function parseTimeout(value: string): number | null {
  const ms = durationMs(value.trim());
  return ms !== null && ms >= 1 && ms <= 3_600_000 ? Math.round(ms) : null;
}

export const BACKEND_PROTOCOL = 'tunnel-ingress.dev/backend-protocol';
export const ORIGIN_CA_SECRET = 'tunnel-ingress.dev/origin-ca-secret';

/** A Secret the agent has asked for but not heard back about yet: no verdict on it, no Event. */
export const SECRET_PENDING = 'pending';
/** A Secret's decoded data, SECRET_PENDING while it is being fetched, undefined when it does not exist. */
export type SecretLookup = (
  namespace: string,
  name: string,
) => Record<string, string> | typeof SECRET_PENDING | undefined;
export const ORIGIN_SNI = 'tunnel-ingress.dev/origin-sni';
export const ORIGIN_INSECURE = 'tunnel-ingress.dev/origin-insecure-skip-verify';

const PROTOCOLS = new Set(['HTTP', 'HTTPS', 'H2C', 'GRPC', 'GRPCS']);

/** A DNS host name, lower case (an SNI name, a BackendTLSPolicy's hostname). */
export const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface OriginProblem {
  reason: string;
  message: string;
}

export function originOptions(ing: Ingress, secret: SecretLookup, problems: OriginProblem[]): OriginOptions {
  const a = ing.metadata?.annotations ?? {};
  const ns = ing.metadata?.namespace ?? 'default';
  const bad = (message: string) => problems.push({ reason: 'InvalidAnnotation', message });
  const timeout = (name: string): number | null => {
    const raw = a[name];
    if (raw === undefined) return null;
    const ms = parseTimeout(raw);
    if (ms === null)
      bad(`${name}: "${raw}" is not a duration from 1ms to 1h (such as 30s or 2m); using the default`);
    return ms;
  };
  const timeouts = {
    connectTimeoutMs: timeout(CONNECT_TIMEOUT),
    headersTimeoutMs: timeout(RESPONSE_HEADER_TIMEOUT),
    websocketIdleMs: timeout(WEBSOCKET_IDLE_TIMEOUT),
  };
  const timeoutKey = `${timeouts.connectTimeoutMs ?? ''}|${timeouts.headersTimeoutMs ?? ''}|${timeouts.websocketIdleMs ?? ''}`;
  let proto = (a[BACKEND_PROTOCOL] ?? 'HTTP').trim().toUpperCase();
  if (!PROTOCOLS.has(proto)) {
    bad(
      `${BACKEND_PROTOCOL}: "${a[BACKEND_PROTOCOL] ?? ''}" is not one of HTTP, HTTPS, H2C, GRPC, GRPCS; using HTTP`,
    );
    proto = 'HTTP';
  }
  const h2 = proto === 'H2C' || proto === 'GRPC' || proto === 'GRPCS';
  if (proto !== 'HTTPS' && proto !== 'GRPCS') {
    for (const k of [ORIGIN_CA_SECRET, ORIGIN_SNI, ORIGIN_INSECURE])
      if (a[k] !== undefined) bad(`${k} has no effect without ${BACKEND_PROTOCOL}: HTTPS or GRPCS`);
    if (proto === 'HTTP' && timeoutKey === '||') return PLAIN;
    return Object.freeze({ ...PLAIN, ...timeouts, protocol: proto, h2, key: `${proto}|${timeoutKey}` });
  }
  let caPem: string | null = null;
  let pendingSecret: string | null = null;
  const caName = a[ORIGIN_CA_SECRET];
  if (caName !== undefined) {
    const data = secret(ns, caName);
    const ca = data === SECRET_PENDING ? undefined : data?.['ca.crt'];
    if (data === SECRET_PENDING) {
      // The routes are compiled again as soon as the Secret is known; until then they wait.
      pendingSecret = `${ns}/${caName}`;
    } else if (ca === undefined || !ca.includes('-----BEGIN CERTIFICATE-----')) {
      bad(
        `${ORIGIN_CA_SECRET}: Secret ${ns}/${caName} has no PEM certificate under ca.crt; using the system roots only`,
      );
    } else {
      caPem = ca;
    }
  }
  let sni: string | null = null;
  if (a[ORIGIN_SNI] !== undefined) {
    const v = a[ORIGIN_SNI].trim().toLowerCase();
    if (!HOSTNAME.test(v))
      bad(`${ORIGIN_SNI}: "${a[ORIGIN_SNI]}" is not a host name; using the request's Host`);
    else sni = v;
  }
  let insecure = false;
  if (a[ORIGIN_INSECURE] !== undefined) {
    if (a[ORIGIN_INSECURE] === 'true') insecure = true;
    else if (a[ORIGIN_INSECURE] !== 'false')
      bad(`${ORIGIN_INSECURE}: "${a[ORIGIN_INSECURE]}" is not true or false; verifying`);
  }
  const caHash = caPem === null ? '' : createHash('sha256').update(caPem).digest('hex').slice(0, 16);
  return Object.freeze({
    protocol: proto,
    tls: true,
    h2,
    caPem,
    sni,
    insecure,
    ...timeouts,
    key: `${proto}|${caHash}|${sni ?? ''}|${insecure}|${timeoutKey}`,
    pendingSecret,
  });
}

/**
 * What an origin's certificate is checked against: the system roots plus the route's bundle, if any
 * (a BackendTLSPolicy's bundle alone).
 */
export function originCas(o: OriginOptions): string[] | undefined {
  if (o.caPem === null) return undefined;
  return o.systemRoots === false ? [o.caPem] : [...tls.rootCertificates, o.caPem];
}

/**
 * The identity check of an origin's certificate, as connect options: none (Node's own, the name
 * against the certificate) unless a BackendTLSPolicy lists subjectAltNames, of which the certificate
 * must then carry one. Spread into the options: tls.connect takes an explicit undefined over its own.
 */
export function identityCheck(o: OriginOptions): { checkServerIdentity?: typeof tls.checkServerIdentity } {
  const sans = o.subjectAltNames;
  if (sans === undefined || sans === null || sans.length === 0) return {};
  return {
    checkServerIdentity: (_host, cert) => {
      for (const san of sans) {
        if (san.startsWith('DNS:')) {
          if (tls.checkServerIdentity(san.slice(4), cert) === undefined) return undefined;
        } else if ((cert.subjectaltname ?? '').split(', ').includes(san)) return undefined;
      }
      return new Error(
        `the origin's certificate has none of the subject alternative names ${sans.join(', ')}`,
      );
    },
  };
}
