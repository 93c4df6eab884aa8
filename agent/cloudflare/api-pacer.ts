export interface PacerOptions {
  /** calls per window (default 1,000: room under 1,200 for people using the same token) */
  limit?: number;
  windowMs?: number;
  /** how many 429s one call may meet before its failure is passed on */
  max429?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  on429?: (waitMs: number) => void;
}

/**
 * Keeps the agent under Cloudflare's API limit (1,200 requests per five minutes per user): at most
 * `limit` calls start in any sliding window, and a 429 pauses every call until its Retry-After has
 * passed, then the same call is tried again. Other failures are the caller's to handle.
 */
export class ApiPacer {
  private readonly starts: number[] = [];
  private pausedUntil = 0;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly max429: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** serialises slot-taking so concurrent callers cannot overshoot */
  private gate: Promise<void> = Promise.resolve();
  calls = 0;

  constructor(private readonly opts: PacerOptions = {}) {
    this.limit = opts.limit ?? 1000;
    this.windowMs = opts.windowMs ?? 5 * 60_000;
    this.max429 = opts.max429 ?? 5;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.slot();
      try {
        return await call();
      } catch (err) {
        const wait = retryAfterMs(err);
        if (wait === null || attempt >= this.max429) throw err;
        this.pausedUntil = Math.max(this.pausedUntil, this.now() + wait);
        this.opts.on429?.(wait);
      }
    }
  }

  private slot(): Promise<void> {
    const next = this.gate.then(() => this.take());
    this.gate = next.catch(() => {});
    return next;
  }

  private async take(): Promise<void> {
    for (;;) {
      const now = this.now();
      if (now < this.pausedUntil) {
        await this.sleep(this.pausedUntil - now);
        continue;
      }
      while (this.starts.length > 0 && (this.starts[0] as number) <= now - this.windowMs) this.starts.shift();
      if (this.limit <= 0 || this.starts.length < this.limit) {
        this.starts.push(now);
        this.calls++;
        return;
      }
      await this.sleep((this.starts[0] as number) + this.windowMs - now);
    }
  }
}

/** For a 429 from the SDK: how long its Retry-After asks to wait (1 s when it says nothing). */
export function retryAfterMs(err: unknown): number | null {
  const e = err as { status?: number; headers?: Headers | Record<string, string> } | null;
  if (e === null || typeof e !== 'object' || e.status !== 429) return null;
  const raw = e.headers instanceof Headers ? e.headers.get('retry-after') : e.headers?.['retry-after'];
  const s = Number(raw);
  return Number.isFinite(s) && s > 0 ? Math.min(s, 300) * 1000 : 1000;
}
