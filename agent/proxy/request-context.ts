import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Responder, TunnelRequest } from '../../tunnel/responder.js';
import type { RouteEdits } from '../routing/rule-action.js';

/** What the request kind decides: which exchange carries it once it is admitted and routed. */
export type RequestKind = TunnelRequest['kind'];

/**
 * One request from the moment the tunnel hands it over until it is recorded: made once, filled in
 * by each phase of the pipeline (refuse, resolve, exchange, respond, record), then read by the
 * recorder. Everything a later phase or the access log needs is read from the tunnel's headers here,
 * once, so no phase re-derives it.
 */
export class RequestContext {
  readonly stream: Duplex;
  readonly headers: http2.IncomingHttpHeaders;
  readonly responder: Responder;
  readonly kind: RequestKind;
  readonly hasBody: boolean;
  /** the tunnel stream can carry response trailers */
  readonly trailers: boolean;
  readonly method: string;
  /** the visitor's authority as sent (Host for the origin, the host the log shows) */
  readonly authority: string;
  /** the path as sent, for the log when it is refused */
  readonly rawPath: string;
  readonly ray: string;
  /** performance.now() when the tunnel handed the request over */
  readonly started: number;
  /** Date.now() at the same moment: the access log's and /requests' time, formatted when read */
  readonly at: number;
  /** the normalized path (refuse), then the path the origin gets (resolve) */
  path: string;
  /** the matched rule's host, a bounded metric label; "refused" or "unmatched" when there is none */
  route = 'refused';
  /** host:port of the endpoint that answered, or "agent" when the agent answered itself */
  endpoint = 'agent';
  /** the Gateway API filters' header edits for this request and its response (resolve) */
  edits: RouteEdits | undefined = undefined;
  /** the route's timeout for the whole exchange, from arrival (resolve); 0 for none */
  timeoutMs = 0;
  /** the status the visitor got; 0 until known */
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** why the request failed, when it did */
  error: string | undefined = undefined;

  constructor(req: TunnelRequest) {
    const h = req.headers;
    this.stream = req.stream;
    this.headers = h;
    this.responder = req.responder;
    this.kind = req.kind;
    this.hasBody = req.hasBody;
    this.trailers = req.trailers;
    const method = h[':method'];
    this.method = req.kind === 'websocket' ? 'GET' : typeof method === 'string' ? method : 'GET';
    const authority = h[':authority'] ?? h.host;
    this.authority = typeof authority === 'string' ? authority : '';
    const path = h[':path'];
    this.rawPath = typeof path === 'string' ? path : '/';
    this.path = this.rawPath;
    const ray = h['cf-ray'];
    this.ray = typeof ray === 'string' ? ray : '';
    this.started = performance.now();
    this.at = Date.now();
  }

  /** Milliseconds since the request arrived, to a tenth. */
  elapsedMs(): number {
    return Math.round((performance.now() - this.started) * 10) / 10;
  }
}
