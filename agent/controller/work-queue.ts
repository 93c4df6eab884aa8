/**
 * A queue of keys, not events: a key added while queued is queued once; a key added while its handler
 * runs is run again afterwards; a failing key is retried with per-key exponential backoff (base
 * `baseMs`, doubling to `maxMs`), and forgotten on success. Handlers read current state themselves,
 * so the queue only says what to look at.
 */
export type Handler = (key: string) => Promise<void>;

export interface WorkQueueOptions {
  baseMs?: number;
  maxMs?: number;
  onError?(key: string, err: unknown, retryInMs: number): void;
}

export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly order: string[] = [];
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private draining = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly handler: Handler,
    private readonly opts: WorkQueueOptions = {},
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.schedule();
  }

  /** Adds after a delay (unless it is added sooner). */
  addAfter(key: string, ms: number): void {
    if (this.stopped || this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  get length(): number {
    return this.order.length;
  }

  /** Resolves when nothing is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.order.length === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(): void {
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    while (this.order.length > 0 && !this.stopped) {
      const key = this.order.shift() as string;
      this.queued.delete(key);
      this.running.add(key);
      try {
        await this.handler(key);
        this.failures.delete(key);
      } catch (err) {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        const wait = Math.min(this.opts.maxMs ?? 60_000, (this.opts.baseMs ?? 200) * 2 ** (n - 1));
        this.opts.onError?.(key, err, wait);
        this.addAfter(key, wait);
      } finally {
        this.running.delete(key);
        if (this.dirty.delete(key)) this.add(key);
      }
    }
    this.draining = false;
    if (this.order.length === 0 && this.running.size === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }
}
