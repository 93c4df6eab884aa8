import {
  ListWatch,
  Watch,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '../backoff.js';
import { describeApiError } from './errors.js';

/**
 * One client-node informer, kept alive: client-node stops an informer for good on any error (a socket
 * reset, a garbled response, a failed relist), so this restarts it with full-jitter backoff. `synced`
 * turns true after the first complete list; the cache then always answers, with the last good state
 * while the API server is away. A watch can also die without a word (a response cut off mid-body
 * leaves client-node waiting for ever, and it drops its own 30 s timeout), so a watch that has been
 * quiet for `quietMs` is reconnected, from the resourceVersion it has, as client-go's watch timeouts do.
 *
 * client-node's ListWatch aborts its current watch whenever it starts another, and the aborted watch
 * then reports an AbortError as a failure, which used to restart the informer, whose start aborted the
 * next watch: hundreds of "watch failed" lines an hour and several watch requests per quiet period.
 * The ListWatch is therefore built over a Watch whose deliberately aborted requests report nothing
 * (see QuietAbortWatch): a quiet period costs exactly one new watch request.
 */
export type ChangeKind = 'add' | 'update' | 'delete';

export class ResourceWatch<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private everListed = false;
  private readonly backoff = new Backoff(500, 5);
  private restartTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  restarts = 0;
  quietReconnects = 0;
  private lastActivity = Date.now();
  private readonly quietTimer: NodeJS.Timeout;

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
  ) {
    const listed: ListPromise<T> = async () => {
      const list = await listFn();
      this.everListed = true;
      this.backoff.reset();
      return list;
    };
    this.informer = new ListWatch(path, new QuietAbortWatch(kc), listed, false, undefined, fieldSelector);
    this.informer.on('add', (o) => onChange('add', o));
    this.informer.on('update', (o) => onChange('update', o));
    this.informer.on('delete', (o) => onChange('delete', o));
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

/**
 * client-node's Watch, except that a request aborted through the controller it returns never calls
 * `done`: only the ListWatch aborts its requests, and only when it has stopped or is already starting
 * the next watch, so that late AbortError is news to no one (and handed to the ListWatch it would
 * abort the watch that replaced it).
 */
class QuietAbortWatch extends Watch {
  override async watch(
    path: string,
    queryParams: Parameters<Watch['watch']>[1],
    callback: Parameters<Watch['watch']>[2],
    done: Parameters<Watch['watch']>[3],
  ): Promise<AbortController> {
    let abortedHere = false;
    const inner = await super.watch(path, queryParams, callback, (err) => {
      if (!abortedHere) done(err);
    });
    const outer = new AbortController();
    outer.signal.addEventListener('abort', () => {
      abortedHere = true;
      inner.abort();
    });
    return outer;
  }
}
