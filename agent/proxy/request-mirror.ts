import { PassThrough, type Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { AgentMetrics } from '../observability/metrics.js';
import { PLAIN } from '../routing/origin-options.js';
import type { Mirror } from '../routing/rule-action.js';
import { editRequestHeaders } from './header-edits.js';
import type { OriginPools } from './origin-pools.js';
import type { RequestContext } from './request-context.js';

/** Copies in flight at once, across every route; more are dropped, never queued. */
export const MAX_MIRRORS_IN_FLIGHT = 64;
/** How far a copy's body may fall behind the original's before the copy is dropped. */
export const MAX_MIRROR_BODY_LAG = 1024 * 1024;
/** A copy that has not been answered by then is abandoned. */
const MIRROR_TIMEOUT_MS = 30_000;

/**
 * The Gateway API's RequestMirror: a copy of a request, sent to one endpoint of the mirror's Service
 * and forgotten (its answer is read and thrown away). A mirror must never slow, fail or grow the
 * agent for the request it copies, so everything about it is bounded: copies in flight, how far a
 * copy's body may lag (past that it is dropped, not buffered), how long it may take; and its
 * failures are counted, never passed on. Mirrors go over HTTP/1.1 through the origin pools.
 */
export class RequestMirrors {
  private inFlight = 0;

  constructor(
    private readonly pools: OriginPools,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics | undefined,
  ) {}

  /**
   * Sends the copies the rule's mirrors pick (each by its fraction) of the request in `ctx`, whose
   * origin headers before the route's edits are `base`. Returns the bodies to feed as the original's
   * body passes (the caller ends them), or null when no copy needs one.
   */
  start(ctx: RequestContext, mirrors: readonly Mirror[], base: readonly string[]): Writable[] | null {
    let bodies: Writable[] | null = null;
    for (const m of mirrors) {
      if (m.fraction < 1 && Math.random() >= m.fraction) continue;
      if (this.inFlight >= MAX_MIRRORS_IN_FLIGHT) {
        this.metrics?.mirrors.inc({ result: 'dropped' });
        continue;
      }
      const ep = m.backend.upstream.pick(ctx.headers);
      if (ep === null) {
        this.metrics?.mirrors.inc({ result: 'failed' });
        continue;
      }
      const headers = m.edits === null ? [...base] : editRequestHeaders([...base], m.edits);
      const body = ctx.hasBody ? new PassThrough({ highWaterMark: 64 * 1024 }) : null;
      if (body !== null) (bodies ??= []).push(body);
      const options = m.backend.origin;
      this.inFlight++;
      this.pools
        .agentFor(options === PLAIN ? undefined : options)
        .request({
          origin: options.tls ? ep.tlsOrigin : ep.origin,
          path: ctx.path,
          method: ctx.method,
          headers,
          body,
          signal: AbortSignal.timeout(MIRROR_TIMEOUT_MS),
        })
        .then(
          async (res) => {
            await res.body.dump();
            this.metrics?.mirrors.inc({ result: 'sent' });
          },
          (err: Error) => {
            this.metrics?.mirrors.inc({ result: 'failed' });
            this.log.debug({ origin: ep.origin, path: ctx.path, err: err.message }, 'mirror request failed');
          },
        )
        .finally(() => {
          this.inFlight--;
          body?.destroy();
        });
    }
    return bodies;
  }
}

/**
 * Feeds a chunk of the original body to its copies; a copy too far behind is dropped (ended with an
 * error, which fails its request) so that it never holds the original back or grows without bound.
 */
export function feedMirrors(bodies: readonly Writable[], chunk: Buffer): void {
  for (const b of bodies) {
    if (b.destroyed) continue;
    if (b.writableLength > MAX_MIRROR_BODY_LAG) {
      b.destroy(new Error('the mirror fell too far behind the original request'));
      continue;
    }
    b.write(chunk);
  }
}
