/**
 * A queue of keys, not events: a key added while queued is queued once; a key added while its handler
 * runs is run again afterwards; a failing key is retried with per-key exponential backoff (base
 * `baseMs`, doubling to `maxMs`), and forgotten on success. Handlers read current state themselves,
 * so the queue only says what to look at. Up to `workers` different keys run at once (one key never
 * runs twice at once), so a slow handler (a status write waiting on the API server) does not hold up
 * the others (an endpoint update during a rollout).
 */
export type Handler<K> = (key: K) => Promise<void>;

export interface WorkQueueOptions<K> {
  /** a key's identity: keys with the same id are one key */
  id: (key: K) => string;
  /** keys handled at once (default 1) */
  workers?: number;
  baseMs?: number;
  maxMs?: number;
  onError?(key: K, err: unknown, retryInMs: number): void;
}

export class WorkQueue<K> {
  private readonly queued = new Map<string, K>();
  private readonly order: string[] = [];
  private readonly running = new Set<string>();
  private readonly dirty = new Map<string, K>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private scheduled = false;
  private active = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly handler: Handler<K>,
    private readonly opts: WorkQueueOptions<K>,
  ) {}

  add(key: K): void {
    if (this.stopped) return;
    const id = this.opts.id(key);
    if (this.running.has(id)) {
      this.dirty.set(id, key);
      return;
    }
    if (this.queued.has(id)) return;
    this.queued.set(id, key);
    this.order.push(id);
    this.schedule();
  }

  /** Adds after a delay (unless it is added sooner). */
  addAfter(key: K, ms: number): void {
    const id = this.opts.id(key);
    if (this.stopped || this.timers.has(id)) return;
    const t = setTimeout(() => {
      this.timers.delete(id);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(id, t);
  }

  retries(key: K): number {
    return this.failures.get(this.opts.id(key)) ?? 0;
  }

  get length(): number {
    return this.order.length;
  }

  /** Resolves when nothing is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.order.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Keys added in the same turn are de-duplicated before any runs. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const workers = this.opts.workers ?? 1;
    while (this.active < workers && this.order.length > 0 && !this.stopped) {
      const id = this.order.shift() as string;
      const key = this.queued.get(id) as K;
      this.queued.delete(id);
      this.running.add(id);
      this.active++;
      void this.run(id, key);
    }
    if (this.active === 0 && (this.order.length === 0 || this.stopped)) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  private async run(id: string, key: K): Promise<void> {
    try {
      await this.handler(key);
      this.failures.delete(id);
    } catch (err) {
      const n = (this.failures.get(id) ?? 0) + 1;
      this.failures.set(id, n);
      const wait = Math.min(this.opts.maxMs ?? 60_000, (this.opts.baseMs ?? 200) * 2 ** (n - 1));
      this.opts.onError?.(key, err, wait);
      this.addAfter(key, wait);
    } finally {
      this.running.delete(id);
      this.active--;
      const again = this.dirty.get(id);
      if (again !== undefined) {
        this.dirty.delete(id);
        this.add(again);
      }
      this.pump();
    }
  }
}
