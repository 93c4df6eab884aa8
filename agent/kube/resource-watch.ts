import {
  makeInformer,
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
 * while the API server is away.
 */
export type ChangeKind = 'add' | 'update' | 'delete';

export class ResourceWatch<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private everListed = false;
  private readonly backoff = new Backoff(500, 5);
  private restartTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  restarts = 0;

  constructor(
    readonly name: string,
    kc: KubeConfig,
    path: string,
    listFn: ListPromise<T>,
    onChange: (kind: ChangeKind, obj: T) => void,
    private readonly log: Logger,
  ) {
    const listed: ListPromise<T> = async () => {
      const list = await listFn();
      this.everListed = true;
      this.backoff.reset();
      return list;
    };
    this.informer = makeInformer(kc, path, listed);
    this.informer.on('add', (o) => onChange('add', o));
    this.informer.on('update', (o) => onChange('update', o));
    this.informer.on('delete', (o) => onChange('delete', o));
    this.informer.on('error', (err) => this.restart(err));
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
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    await this.informer.stop();
  }
}
