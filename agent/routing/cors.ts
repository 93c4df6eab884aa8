import type http2 from 'node:http2';
import type { HeaderEdits } from './rule-action.js';

/** One allowed origin: a scheme, a host (exact, `*.suffix`, or any) and a port (the scheme's by default). */
interface OriginPattern {
  scheme: string;
  /** lower case; '' for any host */
  host: string;
  /** the host is `*.<host>`: any number of labels before it */
  wildcard: boolean;
  port: number;
}

const DEFAULT_PORT: Record<string, number> = { http: 80, https: 443 };
const ORIGIN = /^(https?):\/\/(\*|\*\.[a-z0-9.-]+|[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/i;

/** An origin pattern of allowOrigins, or null when it is not one. */
export function parseOriginPattern(value: string): OriginPattern | null {
  const m = ORIGIN.exec(value);
  if (m === null) return null;
  const scheme = (m[1] as string).toLowerCase();
  const host = (m[2] as string).toLowerCase();
  const port = m[3] === undefined ? DEFAULT_PORT[scheme] : Number(m[3]);
  if (port === undefined || port < 1 || port > 65535) return null;
  if (host === '*') return { scheme, host: '', wildcard: true, port };
  if (host.startsWith('*.')) return { scheme, host: host.slice(1), wildcard: true, port };
  return { scheme, host, wildcard: false, port };
}

/** What a CORS filter allows, as written in the route. '*' is the API's wildcard. */
export interface CorsSpec {
  /** '*' or origin patterns (parseOriginPattern) */
  origins: '*' | readonly string[];
  credentials: boolean;
  methods: '*' | readonly string[];
  headers: '*' | readonly string[];
  expose: '*' | readonly string[];
  maxAgeSeconds: number;
}

/**
 * The Gateway API's CORS filter, compiled once: the agent answers a preflight itself (204, with the
 * CORS headers when the Origin is allowed and without them when it is not), and adds the CORS
 * response headers to an allowed cross-origin request's response. With credentials, the API forbids
 * `*`, so the request's own values are echoed. Every response it touches says `Vary: Origin`.
 */
export class CorsPolicy {
  private readonly patterns: readonly OriginPattern[] | null;
  private readonly methods: string | null;
  private readonly headers: string | null;
  private readonly expose: string | null;
  private readonly maxAge: string;

  constructor(private readonly spec: CorsSpec) {
    this.patterns =
      spec.origins === '*' ? null : spec.origins.map((o) => parseOriginPattern(o) as OriginPattern);
    this.methods = spec.methods === '*' ? null : spec.methods.length === 0 ? '' : spec.methods.join(', ');
    this.headers = spec.headers === '*' ? null : spec.headers.length === 0 ? '' : spec.headers.join(', ');
    this.expose =
      spec.expose === '*'
        ? spec.credentials
          ? ''
          : '*'
        : spec.expose.length === 0
          ? ''
          : spec.expose.join(', ');
    this.maxAge = String(spec.maxAgeSeconds);
  }

  /** Whether a request's Origin header value is one this policy lets in. */
  allows(origin: string): boolean {
    if (this.patterns === null) return true;
    const o = parseOriginPattern(origin);
    if (o === null || o.wildcard) return false;
    return this.patterns.some(
      (p) =>
        p.scheme === o.scheme &&
        p.port === o.port &&
        (p.wildcard ? p.host === '' || o.host.endsWith(p.host) : p.host === o.host),
    );
  }

  /** A preflight (OPTIONS with Origin and Access-Control-Request-Method): the answer's headers. */
  preflight(origin: string, headers: http2.IncomingHttpHeaders): string[] {
    const out = ['Vary', 'Origin'];
    if (!this.allows(origin)) return out;
    out.push('Access-Control-Allow-Origin', origin);
    if (this.spec.credentials) out.push('Access-Control-Allow-Credentials', 'true');
    const method = headers['access-control-request-method'];
    const methods =
      this.methods ?? (this.spec.credentials ? (typeof method === 'string' ? method : '') : '*');
    if (methods !== '') out.push('Access-Control-Allow-Methods', methods);
    const asked = headers['access-control-request-headers'];
    const names = this.headers ?? (typeof asked !== 'string' ? '' : this.spec.credentials ? asked : '*');
    if (names !== '') out.push('Access-Control-Allow-Headers', names);
    out.push('Access-Control-Max-Age', this.maxAge);
    return out;
  }

  /** A cross-origin request: the response header edits, or just Vary when its Origin is not allowed. */
  response(origin: string): HeaderEdits {
    if (!this.allows(origin)) return { set: [], add: [['vary', 'Origin']], remove: [] };
    const set: Array<[string, string]> = [['access-control-allow-origin', origin]];
    if (this.spec.credentials) set.push(['access-control-allow-credentials', 'true']);
    if (this.expose !== '') set.push(['access-control-expose-headers', this.expose as string]);
    return { set, add: [['vary', 'Origin']], remove: [] };
  }
}

/** A preflight: OPTIONS with an Origin and the method it asks about. */
export function isPreflight(method: string, headers: http2.IncomingHttpHeaders): boolean {
  return method === 'OPTIONS' && headers['access-control-request-method'] !== undefined;
}
