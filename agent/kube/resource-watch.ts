import {
  ListWatch,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '../connect/backoff.js';
import { describeApiError } from './errors.js';
import { KubeWatch } from './kube-watch.js';

/**
 * One client-node informer, kept alive: client-node stops an informer for good on any error (a socket
 * reset, a garbled response, a failed relist), so this restarts it with full-jitter backoff. `synced`
 * turns true after the first complete list; the cache then always answers, with the last good state
 * while the API server is away. A watch can also die without a word (a response cut off mid-body
 * leaves client-node waiting for ever, and it drops its own 30 s timeout), so a watch that has been
 * quiet for `quietMs` is reconnected, from the resourceVersion it has, as client-go's watch timeouts do.
 *
 * The ListWatch is built over KubeWatch: a watch it aborts itself reports nothing (client-node's
 * reported an AbortError, which restarted the informer and raced a second start: hundreds of "watch
 * failed" lines an hour, several watch requests per quiet period), and a watch cut off mid-body ends
 * at once instead of at the quiet timer. A quiet period costs exactly one new watch request.
 */
export type ChangeKind = 'add' | 'update' | 'delete';

/** What a controller reads of a watched resource: its cache, kept current by a watch. */
export interface WatchedCache<T> {
  readonly synced: boolean;
  readonly restarts: number;
  list(): readonly T[];
  /** the cached objects whose index key is `key` (needs `indexBy`) */
  indexed(key: string): T[];
  start(): void;
  stop(): Promise<void>;
}

/** One resource to watch: where, how to list it, what to call on each change, and an optional index. */
export interface WatchSpec<T extends KubernetesObject> {
  name: string;
  path: string;
  list: ListPromise<T>;
  onChange(kind: ChangeKind, obj: T): void;
  indexBy?(o: T): string | undefined;
}

/** Makes the watches: ResourceWatch against an API server, or an in-memory cache in tests. */
export type WatchFactory = <T extends KubernetesObject>(spec: WatchSpec<T>) => WatchedCache<T>;

/** The real thing: a ResourceWatch per spec. */
export function resourceWatches(kc: KubeConfig, log: Logger): WatchFactory {
  return (spec) =>
    new ResourceWatch(
      spec.name,
      kc,
      spec.path,
      spec.list,
      spec.onChange,
      log,
      undefined,
      undefined,
      spec.indexBy,
    );
}

/**
 * An index of the cache by a derived key (an EndpointSlice by its Service, say), kept from the
 * informer's events so that a lookup reads one bucket instead of scanning the cluster. A bucket's
 * members are checked against the cache when read, so an object the informer dropped without an
 * event is never returned.
 */
export class CacheIndex<T extends KubernetesObject> {
  private readonly buckets = new Map<string, Map<string, T>>();
  /** object (namespace/name) → its bucket, to move it when its key changes */
  private readonly placed = new Map<string, string>();

  constructor(
    private readonly keyOf: (o: T) => string | undefined,
    private readonly cache: ObjectCache<T>,
  ) {}

  update(kind: ChangeKind, o: T): void {
    const id = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    const was = this.placed.get(id);
    const now = kind === 'delete' ? undefined : this.keyOf(o);
    if (was !== undefined && was !== now) {
      const b = this.buckets.get(was);
      b?.delete(id);
      if (b?.size === 0) this.buckets.delete(was);
      this.placed.delete(id);
    }
    if (now === undefined) return;
    let b = this.buckets.get(now);
    if (b === undefined) this.buckets.set(now, (b = new Map()));
    b.set(id, o);
    this.placed.set(id, now);
  }

  get(key: string): T[] {
    const out: T[] = [];
    for (const o of this.buckets.get(key)?.values() ?? []) {
      const cached = this.cache.get(o.metadata?.name ?? '', o.metadata?.namespace);
      if (cached !== undefined && this.keyOf(cached) === key) out.push(cached);
    }
    return out;
  }
}

export class ResourceWatch<T extends KubernetesObject> implements WatchedCache<T> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private everListed = false;
  private readonly backoff = new Backoff(500, 5);
  private restartTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  restarts = 0;
  quietReconnects = 0;
  private lastActivity = Date.now();
  private readonly quietTimer: NodeJS.Timeout;
  /** typed loosely: ResourceWatch<T> stays assignable where T is widened */
  private readonly index: { get(key: string): KubernetesObject[] } | null;

  constructor(
    readonly name: string,
    kc: KubeConfig,
    path: string,
    listFn: ListPromise<T>,
    onChange: (kind: ChangeKind, obj: T) => void,
    private readonly log: Logger,
    private readonly quietMs = 30_000,
    /** e.g. `metadata.name=NAME`, to watch one object */
    fieldSelector?: string,
    /** keeps an index of the cache by this key (`indexed()`) */
    indexBy?: (o: T) => string | undefined,
  ) {
    const listed: ListPromise<T> = async () => {
      const list = await listFn();
      this.everListed = true;
      this.backoff.reset();
      return list;
    };
    this.informer = new ListWatch(path, new KubeWatch(kc), listed, false, undefined, fieldSelector);
    const index = indexBy === undefined ? null : new CacheIndex<T>(indexBy, this.informer);
    this.index = index;
    this.informer.on('add', (o) => {
      index?.update('add', o);
      onChange('add', o);
    });
    this.informer.on('update', (o) => {
      index?.update('update', o);
      onChange('update', o);
    });
    this.informer.on('delete', (o) => {
      index?.update('delete', o);
      onChange('delete', o);
    });
    this.informer.on('error', (err) => this.restart(err));
    const touch = () => (this.lastActivity = Date.now());
    this.informer.on('add', touch);
    this.informer.on('update', touch);
    this.informer.on('delete', touch);
    this.informer.on('connect', touch);
    this.quietTimer = setInterval(() => this.checkQuiet(), Math.min(5000, quietMs));
    this.quietTimer.unref();
  }

  get synced(): boolean {
    return this.everListed;
  }

  list(): readonly T[] {
    return this.informer.list();
  }

  /** The cached objects whose index key is `key` (needs `indexBy`). */
  indexed(key: string): T[] {
    if (this.index === null) throw new Error(`internal: the ${this.name} watch keeps no index`);
    return this.index.get(key) as T[];
  }

  start(): void {
    this.stopped = false;
    void this.informer.start().catch((err: unknown) => this.restart(err));
  }

  private checkQuiet(): void {
    if (this.stopped || this.restartTimer !== null || Date.now() - this.lastActivity < this.quietMs) return;
    this.lastActivity = Date.now();
    this.quietReconnects++;
    this.log.debug({ watch: this.name, quietMs: this.quietMs }, 'watch quiet; reconnecting');
    // start() aborts the current watch (which then says nothing) and watches again from its version.
    void this.informer.start().catch((err: unknown) => this.restart(err));
  }

  private restart(err: unknown): void {
    if (this.stopped || this.restartTimer !== null) return;
    const wait = Math.max(200, this.backoff.next());
    this.restarts++;
    this.log.warn(
      { watch: this.name, err: describeApiError(err), retryInMs: wait },
      'watch failed; restarting',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopped) void this.informer.start().catch((e: unknown) => this.restart(e));
    }, wait);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.quietTimer);
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    await this.informer.stop();
  }
}
