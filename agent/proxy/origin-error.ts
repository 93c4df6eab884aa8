import { CodedError } from '../../common/errors.js';

/**
 * Where in the exchange an origin failed, which decides what may happen next:
 * - `connect`: nothing reached the origin; the request may go to another endpoint, body and all (a
 *   body is read only once connected);
 * - `before-response`: the request went out but no response head came back; only a request without
 *   a body and with an idempotent method may be sent again;
 * - `mid-body`: the response had started; the visitor's stream is broken, never completed short.
 */
export type OriginPhase = 'connect' | 'before-response' | 'mid-body';

/**
 * The closed set of origin failures. Each is a metric label (`tunnel_ingress_origin_errors_total`
 * by `reason`) and what the access log's `error` says, whichever library met it.
 */
export const ORIGIN_ERRORS = {
  ORIGIN_REFUSED: 'the endpoint refused the connection (nothing listens there)',
  ORIGIN_UNREACHABLE: 'no route to the endpoint',
  ORIGIN_CONNECT_TIMEOUT: 'no connection within the connect timeout',
  ORIGIN_TLS: 'TLS to the endpoint failed (its certificate did not verify, or the handshake broke)',
  ORIGIN_CLOSED: 'the endpoint closed or reset the connection',
  ORIGIN_STREAM_RESET: 'an HTTP/2 origin reset the stream',
  ORIGIN_HEADERS_TIMEOUT: 'no response head within the response header timeout',
  ORIGIN_ROUTE_TIMEOUT:
    "the response was not complete within the route's timeout (a Gateway API rule's timeouts)",
  ORIGIN_PROTOCOL: 'the endpoint answered something that is not HTTP',
  ORIGIN_FAILED: 'any other failure',
} as const;

export type OriginErrorCode = keyof typeof ORIGIN_ERRORS;

/** An origin failure: what it was (a code of ORIGIN_ERRORS), when it happened, and the library's own error as `cause`. */
export class OriginError extends CodedError<OriginErrorCode> {
  constructor(
    code: OriginErrorCode,
    readonly phase: OriginPhase,
    message: string,
    cause?: unknown,
  ) {
    super(code, message, { source: 'origin', cause });
    this.name = 'OriginError';
  }
}

/** Failures that sent the origin nothing: the request may go to another endpoint, and the endpoint counts as down. */
export const NOTHING_SENT: ReadonlySet<OriginErrorCode> = new Set([
  'ORIGIN_REFUSED',
  'ORIGIN_UNREACHABLE',
  'ORIGIN_CONNECT_TIMEOUT',
]);

/** What node's and undici's error codes mean, for the phase before any response. */
const BY_ERRNO: Record<string, [OriginErrorCode, OriginPhase]> = {
  ECONNREFUSED: ['ORIGIN_REFUSED', 'connect'],
  EHOSTUNREACH: ['ORIGIN_UNREACHABLE', 'connect'],
  ENETUNREACH: ['ORIGIN_UNREACHABLE', 'connect'],
  EADDRNOTAVAIL: ['ORIGIN_UNREACHABLE', 'connect'],
  UND_ERR_CONNECT_TIMEOUT: ['ORIGIN_CONNECT_TIMEOUT', 'connect'],
  ECONNRESET: ['ORIGIN_CLOSED', 'before-response'],
  EPIPE: ['ORIGIN_CLOSED', 'before-response'],
  UND_ERR_SOCKET: ['ORIGIN_CLOSED', 'before-response'],
  UND_ERR_CLOSED: ['ORIGIN_CLOSED', 'before-response'],
  ERR_HTTP2_GOAWAY_SESSION: ['ORIGIN_CLOSED', 'before-response'],
  ERR_HTTP2_SESSION_ERROR: ['ORIGIN_CLOSED', 'before-response'],
  ERR_HTTP2_STREAM_ERROR: ['ORIGIN_STREAM_RESET', 'before-response'],
  UND_ERR_HEADERS_TIMEOUT: ['ORIGIN_HEADERS_TIMEOUT', 'before-response'],
  HPE_INVALID_CONSTANT: ['ORIGIN_PROTOCOL', 'before-response'],
  HPE_INVALID_STATUS: ['ORIGIN_PROTOCOL', 'before-response'],
  HPE_INVALID_HEADER_TOKEN: ['ORIGIN_PROTOCOL', 'before-response'],
  ERR_HTTP2_ERROR: ['ORIGIN_PROTOCOL', 'before-response'],
};

/**
 * Any failure of an origin request as an OriginError. `responded`: the response head was already
 * relayed, so whatever happened, happened mid-body.
 */
export function originError(err: unknown, responded: boolean): OriginError {
  if (err instanceof OriginError) {
    return responded && err.phase !== 'mid-body'
      ? new OriginError(err.code, 'mid-body', err.message, err.cause)
      : err;
  }
  const e = err as NodeJS.ErrnoException;
  const message = e instanceof Error ? e.message : String(err);
  const code = typeof e?.code === 'string' ? e.code : '';
  const [kind, phase]: [OriginErrorCode, OriginPhase] =
    BY_ERRNO[code] ?? (isTlsFailure(code) ? ['ORIGIN_TLS', 'connect'] : ['ORIGIN_FAILED', 'before-response']);
  return new OriginError(kind, responded ? 'mid-body' : phase, message, err);
}

function isTlsFailure(code: string): boolean {
  return (
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_') ||
    code.includes('CERT') ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'
  );
}
