import type http2 from 'node:http2';
import { canonicalName, isTunnelInternalHeader } from '../../tunnel/header-packing.js';
import { connectionTokens, isHopByHop } from '../../tunnel/hop-by-hop.js';

/** Request headers the tunnel uses for itself and never forwards. */
const DROP_REQUEST = new Set([
  'cf-cloudflared-proxy-connection-upgrade',
  'cf-cloudflared-proxy-src',
  'cf-trace-id',
  'host',
  // The edge answers 100-continue to the visitor itself (as Cloudflare does) and sends the body on;
  // undici refuses Expect outright.
  'expect',
  // Set by the agent from what the edge and the route say, never taken from the visitor
  // (docs/reliability.md lists what an origin may trust).
  'cf-warp-tag-id',
  'x-real-ip',
  'x-forwarded-host',
  // Nothing on the path sets these; a visitor's copy would only be a lie an origin might believe.
  'true-client-ip',
  'forwarded',
]);

/**
 * The headers an origin gets, as a flat name/value list (undici takes it as it is): the visitor's,
 * less hop-by-hop ones, those the Connection header lists and the tunnel's own; Host and
 * X-Forwarded-Host from the authority; Cf-Warp-Tag-Id as cloudflared; X-Real-IP from Cf-Connecting-Ip;
 * a visitor's True-Client-IP and Forwarded dropped.
 */
export function originHeaders(
  headers: http2.IncomingHttpHeaders,
  authority: string,
  connectorId: string,
): string[] {
  const out: string[] = ['host', authority];
  const listed = connectionTokens(headers.connection);
  for (const name in headers) {
    if (isTunnelInternalHeader(name) || isHopByHop(name) || DROP_REQUEST.has(name)) continue;
    if (listed !== null && listed.has(name)) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push(name, v);
    else for (let i = 0; i < v.length; i++) out.push(name, v[i] as string);
  }
  out.push('cf-warp-tag-id', connectorId, 'x-forwarded-host', authority);
  // The edge's word for the visitor's address, as ingress-nginx sets X-Real-IP from the client.
  const ip = headers['cf-connecting-ip'];
  if (typeof ip === 'string' && ip !== '') out.push('x-real-ip', ip);
  return out;
}

/**
 * The origin headers as HTTP/2 headers: pseudo-headers from the request, Host as :authority, and TE:
 * trailers where the visitor sent it or the call is gRPC (gRPC servers may insist on it).
 */
export function h2Headers(
  method: string,
  path: string,
  tls: boolean,
  flat: string[],
  visitor: http2.IncomingHttpHeaders,
  grpc: boolean,
): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {
    ':method': method,
    ':path': path,
    ':scheme': tls ? 'https' : 'http',
    ':authority': flat[1] as string,
  };
  for (let i = 2; i < flat.length; i += 2) {
    const name = flat[i] as string;
    const value = flat[i + 1] as string;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev as string, value];
  }
  const te = visitor.te;
  if (grpc || (typeof te === 'string' && te.includes('trailers'))) out.te = 'trailers';
  return out;
}

/**
 * An origin's response headers (undici's and node:http2's lower-case object) as the tunnel's header
 * list: Go-canonical names, one pair per value, without hop-by-hop ones or those its Connection
 * header lists, and without pseudo-headers.
 */
export function responseHeaders(headers: http2.IncomingHttpHeaders): string[] {
  const out: string[] = [];
  const listed = connectionTokens(headers.connection);
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */ || isHopByHop(name) || (listed !== null && listed.has(name)))
      continue;
    const v = headers[name];
    if (v === undefined) continue;
    const cname = canonicalName(name);
    if (typeof v === 'string') out.push(cname, v);
    else for (let i = 0; i < v.length; i++) out.push(cname, v[i] as string);
  }
  return out;
}

/**
 * node:http's raw response headers (a websocket handshake's) as a header list: Upgrade and
 * Connection belong to the handshake the visitor sees; other hop-by-hop headers do not pass.
 */
export function handshakeHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (isHopByHop(lower) && lower !== 'upgrade' && lower !== 'connection') continue;
    out.push(canonicalName(lower), raw[i + 1] as string);
  }
  return out;
}
