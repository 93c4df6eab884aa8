import { CodedError, type ErrorSource } from '../common/errors.js';

export type { ErrorSource };

/**
 * What an error means for the connection it happened on, as the agent's supervisor acts on it:
 * - `unusable`: this transport cannot get through here (UDP or TCP blocked, no handshake, no
 *   registration in time); `auto` may hand over to the other transport while none has registered.
 * - `moveAddress`: try the next edge address (the address is unreachable or refuses this connection).
 * Everything else is retried on the same address after backoff (a connection-level code), or costs
 * only its stream or its RPC (a stream-level one).
 */
export interface ErrorMeaning {
  meaning: string;
  /** the transport cannot reach the edge here */
  unusable: boolean;
  /** the next dial goes to the next address */
  moveAddress: boolean;
  /** one stream or one RPC fails; the connection carries on */
  streamOnly: boolean;
}

const conn = (meaning: string, unusable = false, moveAddress = false): ErrorMeaning => ({
  meaning,
  unusable,
  moveAddress,
  streamOnly: false,
});
const stream = (meaning: string): ErrorMeaning => ({
  meaning,
  unusable: false,
  moveAddress: false,
  streamOnly: true,
});

/**
 * Every code a TunnelError may carry, and what it means. docs/architecture.md shows this table; a
 * code not in it does not compile.
 */
export const TUNNEL_ERRORS = {
  EDGE_DIAL_FAILED: conn('the edge address did not accept the connection (refused, unreachable)', true, true),
  EDGE_DIAL_TIMEOUT: conn('no TCP or TLS handshake with the edge address in time', true, true),
  EDGE_CERTIFICATE: conn(
    "the edge's certificate did not verify against --cacert or the default roots; not a transport problem: the other transport would meet the same certificate",
  ),
  EDGE_CLOSED: conn('the edge closed the connection'),
  EDGE_UNRESPONSIVE: conn('the edge did not answer keepalive PINGs in time'),
  EDGE_PROTOCOL: conn('the edge broke the tunnel protocol (a first stream that is not the control stream)'),
  EDGE_CANCELED: stream('the edge canceled a request stream; its origin request is stopped'),
  AGENT_UNRESPONSIVE: conn('(edge side) the connector did not answer keepalive PINGs in time'),
  CONTROL_STREAM_CLOSED: conn('the control stream ended; the connection cannot be managed any more'),
  REGISTRATION_TIMEOUT: conn('no answer to the registration in time', true),
  REGISTRATION_MALFORMED: conn('the registration answer could not be read'),
  REGISTRATION_REJECTED: conn('the edge refused the registration (credentials, or a retry later)'),
  UNREGISTER_TIMEOUT: conn(
    'the edge did not acknowledge the unregistration in time; the connection closes anyway',
  ),
  REGISTRATION_DUPLICATE: conn('this connection index is already registered at that address', false, true),
  CONFIG_PUSH_FAILED: stream('a remote configuration push could not be answered'),
  CREDENTIALS_INVALID: conn('the credentials file or token cannot be read'),
  UUID_INVALID: conn('a tunnel or connector id is not a UUID'),
  QUIC_UNAVAILABLE: conn('the QUIC library could not be loaded on this machine', true),
  QUIC_HANDSHAKE_TIMEOUT: conn('no QUIC handshake with the edge address in time', true, true),
  QUIC_HANDSHAKE_FAILED: conn('the QUIC handshake failed', true, true),
  QUIC_ALPN: conn('the edge did not agree to the argotunnel ALPN', true),
  QUIC_IDLE_TIMEOUT: conn('the QUIC connection went silent past its idle timeout', true, true),
  QUIC_CLOSED: conn('the QUIC connection was closed by either side', true),
  QUIC_STREAM_RESET: stream('the peer reset a QUIC stream'),
  QUIC_STREAM_STOPPED: stream('the peer stopped reading a QUIC stream'),
  QUIC_BAD_SIGNATURE: stream("a stream's preamble does not start with the protocol's signature"),
  QUIC_PREAMBLE_TIMEOUT: stream("a stream's preamble did not arrive in time"),
  QUIC_TRUNCATED_PREAMBLE: stream('a stream ended inside its preamble'),
  FRAME_INVALID: stream('a Cap’n Proto stream frame is malformed or too large'),
  CAPNP_MALFORMED: stream('a Cap’n Proto message is malformed (bounds, pointers, nesting)'),
  HEADER_PACKING_INVALID: stream('Cf-Cloudflared-Response-Headers is not valid unpadded base64 pairs'),
  TRAILERS_FRAMING_INVALID: stream('a framed QUIC response body (trailers extension) is malformed'),
  RPC_MALFORMED: stream('an RPC message is malformed; that RPC connection is aborted'),
  RPC_PROTOCOL: stream('an RPC message breaks the RPC protocol; that RPC connection is aborted'),
  RPC_ABORTED: stream('this side aborted the RPC connection'),
  RPC_PEER_ABORTED: stream('the peer aborted the RPC connection'),
  RPC_CLOSED: stream('the RPC connection closed with calls unanswered'),
  RPC_CANCELED: stream('the call was canceled'),
  RPC_EXCEPTION: stream('the peer answered the call with an exception'),
  RPC_UNIMPLEMENTED: stream('the method called is not implemented here'),
} as const satisfies Record<string, ErrorMeaning>;

export type TunnelErrorCode = keyof typeof TUNNEL_ERRORS;

/**
 * Errors of the tunnel protocol, either end: a code from TUNNEL_ERRORS, the side that caused it
 * (`edge`, `origin`, `internal`), chained with `cause`, so that a caller can tell a misbehaving peer
 * from its own bug without parsing messages. Decoders throw nothing else, whatever bytes they are fed.
 */
export class TunnelError extends CodedError<TunnelErrorCode> {
  constructor(code: TunnelErrorCode, message: string, options: { source: ErrorSource; cause?: unknown }) {
    super(code, message, options);
    this.name = 'TunnelError';
  }
}

export function isTunnelError(err: unknown, code?: TunnelErrorCode): err is TunnelError {
  return err instanceof TunnelError && (code === undefined || err.code === code);
}

/** What a failure means for its connection; an error that is not a TunnelError means nothing special. */
export function meaningOf(err: unknown): ErrorMeaning | null {
  return isTunnelError(err) ? TUNNEL_ERRORS[err.code] : null;
}
