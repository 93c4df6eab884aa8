/**
 * Fault modes for tests, set through POST /_edge/api-faults: the next `count` API calls (or all calls
 * for `forMs`) answer `status` (429 with Retry-After, or a 5xx), or are delayed by `delayMs`.
 */
export interface FaultSpec {
  status?: number;
  count?: number;
  forMs?: number;
  retryAfterS?: number;
  delayMs?: number;
  /** answer 200 with a body that is not JSON */
  garbage?: boolean;
  /** start a 200 answer and cut the connection halfway */
  truncate?: boolean;
}

export interface ActiveFault {
  status: number | null;
  retryAfterS: number;
  delayMs: number;
  garbage: boolean;
  truncate: boolean;
}

export class ApiFaults {
  private spec: FaultSpec | null = null;
  private remaining = Infinity;
  private until = Infinity;

  set(spec: FaultSpec): void {
    if (spec.status !== undefined && (spec.status < 400 || spec.status > 599)) {
      throw new Error('status must be a 4xx or 5xx code');
    }
    this.spec = spec;
    this.remaining = spec.count ?? Infinity;
    this.until = spec.forMs === undefined ? Infinity : Date.now() + spec.forMs;
  }

  clear(): void {
    this.spec = null;
  }

  /** The fault for this call, if one is active; counts it. */
  take(): ActiveFault | null {
    const s = this.spec;
    if (s === null) return null;
    if (this.remaining <= 0 || Date.now() >= this.until) {
      this.spec = null;
      return null;
    }
    this.remaining--;
    return {
      status: s.status ?? null,
      retryAfterS: s.retryAfterS ?? 1,
      delayMs: s.delayMs ?? 0,
      garbage: s.garbage === true,
      truncate: s.truncate === true,
    };
  }
}

/**
 * Cloudflare's global limit: 1,200 requests per five minutes per user (here per token); past it, 429
 * with Retry-After until the window has room again.
 */
export class RateLimiter {
  private readonly calls = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 5 * 60 * 1000,
  ) {}

  /** Null when allowed (and counted), else the seconds to wait. */
  check(key: string, now = Date.now()): number | null {
    if (this.limit <= 0) return null;
    let list = this.calls.get(key);
    if (list === undefined) {
      list = [];
      this.calls.set(key, list);
    }
    let drop = 0;
    while (drop < list.length && (list[drop] as number) <= now - this.windowMs) drop++;
    if (drop > 0) list.splice(0, drop);
    if (list.length >= this.limit) {
      return Math.max(1, Math.ceil(((list[0] as number) + this.windowMs - now) / 1000));
    }
    list.push(now);
    return null;
  }
}
