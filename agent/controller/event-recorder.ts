import { randomBytes } from 'node:crypto';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeApiError, statusOf } from '../kube/errors.js';
import type { ObjectMeta } from '../routing/types.js';

/** What an Event is about: any object with metadata (an Ingress, an HTTPRoute). */
export type EventSubject = { metadata?: ObjectMeta };
import { LruMap } from '../../common/lru-map.js';

/**
 * Events on Ingresses, written by the leader only. An event that repeats (same object, reason and
 * message) is not written again while it is fresh; after `refreshMs` its count and lastTimestamp are
 * bumped on the same Event object, as client-go's recorder does. A failed write is logged, never thrown:
 * Events are advice, and the routes do not wait for them.
 *
 * Everything a tenant can make vary is bounded, as in client-go's event correlator: what was written
 * is remembered for the 4,096 most recent events (LRU), each object may write 25 Events at once and
 * then one every five minutes (a token bucket per object, itself LRU-bounded), and a message is cut
 * to the API server's 1,024 bytes with a marker. A namespace being deleted (or already gone) takes no
 * Events: client-go drops them without retrying, and so does this, quietly.
 */
export interface Recorded {
  name: string;
  namespace: string;
  count: number;
  first: Date;
  lastWritten: number;
}

/** client-go's event cache size and spam filter: a burst of 25, then one per 5 minutes per object. */
export const EVENT_CACHE_SIZE = 4096;
export const SPAM_BURST = 25;
export const SPAM_REFILL_MS = 5 * 60_000;
/** The API server refuses a longer message (events.k8s.io note length). */
export const MAX_MESSAGE_BYTES = 1024;
export const TRUNCATED = ' … [truncated]';
/** How long a namespace that refused an Event as terminating (or missing) is skipped. */
const GONE_NAMESPACE_MS = 60_000;

const INGRESS_KIND = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' };

/** `message` cut to at most MAX_MESSAGE_BYTES bytes of UTF-8, ending with the marker when cut. */
export function truncateMessage(message: string): string {
  if (Buffer.byteLength(message) <= MAX_MESSAGE_BYTES) return message;
  const room = MAX_MESSAGE_BYTES - Buffer.byteLength(TRUNCATED);
  let cut = message.slice(0, room);
  while (Buffer.byteLength(cut) > room) cut = cut.slice(0, -1);
  // Do not leave half of a surrogate pair.
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut + TRUNCATED;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class EventRecorder {
  private readonly seen = new LruMap<string, Recorded>(EVENT_CACHE_SIZE);
  private readonly buckets = new LruMap<string, Bucket>(EVENT_CACHE_SIZE);
  private readonly goneNamespaces = new LruMap<string, number>(256);
  readonly component = 'tunnel-ingress';
  /** told of every Event written (the dashboard's activity list) */
  onRecorded:
    ((ing: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string) => void) | null = null;

  constructor(
    private readonly api: Pick<CoreV1Api, 'createNamespacedEvent' | 'replaceNamespacedEvent'>,
    private readonly instance: string,
    private readonly log: Logger,
    private readonly refreshMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many events are remembered (bounded by EVENT_CACHE_SIZE). */
  get size(): number {
    return this.seen.size;
  }

  /** `involved`: the object's kind when it is not an Ingress (a Gateway API route, say). */
  async record(
    ing: EventSubject,
    type: 'Normal' | 'Warning',
    reason: string,
    full: string,
    involved: { apiVersion: string; kind: string } = INGRESS_KIND,
  ): Promise<void> {
    const meta = ing.metadata ?? {};
    const namespace = meta.namespace ?? 'default';
    if (meta.deletionTimestamp !== undefined || this.namespaceGone(namespace)) return;
    const message = truncateMessage(full);
    const object = meta.uid ?? `${namespace}/${meta.name ?? ''}`;
    const key = `${object}\u0000${reason}\u0000${message}`;
    const nowMs = this.now();
    const prev = this.seen.get(key);
    if (prev !== undefined && nowMs - prev.lastWritten < this.refreshMs) return;
    if (!this.takeToken(object, nowMs)) return;
    const now = new Date(nowMs);
    const count = (prev?.count ?? 0) + 1;
    const name = prev?.name ?? `${meta.name ?? 'object'}.${randomBytes(8).toString('hex')}`;
    const body: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        ...involved,
        name: meta.name,
        namespace,
        ...(meta.uid === undefined ? {} : { uid: meta.uid }),
        ...(meta.resourceVersion === undefined ? {} : { resourceVersion: meta.resourceVersion }),
      },
      reason,
      message,
      type,
      count,
      firstTimestamp: prev?.first ?? now,
      lastTimestamp: now,
      source: { component: this.component },
      reportingComponent: 'tunnel-ingress.dev/agent',
      reportingInstance: this.instance,
    };
    this.seen.set(key, { name, namespace, count, first: prev?.first ?? now, lastWritten: nowMs });
    try {
      if (prev === undefined) await this.api.createNamespacedEvent({ namespace, body });
      else await this.api.replaceNamespacedEvent({ name, namespace, body });
      this.onRecorded?.(ing, type, reason, message);
    } catch (err) {
      if (namespaceRefused(err)) {
        // Being deleted, or gone: nothing there to tell. Not retried, as client-go does.
        this.goneNamespaces.set(namespace, nowMs);
        this.log.debug({ namespace, reason }, 'Event skipped: the namespace is being deleted');
        return;
      }
      this.log.warn(
        { ingress: `${namespace}/${meta.name ?? ''}`, reason, err: describeApiError(err) },
        'could not write an Event',
      );
      // Let a later reconcile try again.
      this.seen.delete(key);
    }
  }

  /** Forgets what was recorded for an object, so a recurring problem is reported afresh. */
  forget(uid: string): void {
    for (const k of [...this.seen.keys()]) if (k.startsWith(`${uid}\u0000`)) this.seen.delete(k);
    this.buckets.delete(uid);
  }

  /** The per-object token bucket: SPAM_BURST at once, then one per SPAM_REFILL_MS. */
  private takeToken(object: string, nowMs: number): boolean {
    const b = this.buckets.get(object) ?? { tokens: SPAM_BURST, at: nowMs };
    const refill = Math.floor((nowMs - b.at) / SPAM_REFILL_MS);
    if (refill > 0) {
      b.tokens = Math.min(SPAM_BURST, b.tokens + refill);
      b.at += refill * SPAM_REFILL_MS;
    }
    if (b.tokens === SPAM_BURST) b.at = nowMs;
    const ok = b.tokens > 0;
    if (ok) b.tokens--;
    this.buckets.set(object, b);
    return ok;
  }

  private namespaceGone(namespace: string): boolean {
    const at = this.goneNamespaces.get(namespace);
    if (at === undefined) return false;
    if (this.now() - at < GONE_NAMESPACE_MS) return true;
    this.goneNamespaces.delete(namespace);
    return false;
  }
}

/**
 * The API server's answer to an Event in a namespace being deleted (403, cause NamespaceTerminating)
 * or in one that no longer exists (404 for the namespace).
 */
function namespaceRefused(err: unknown): boolean {
  const status = statusOf(err);
  if (status !== 403 && status !== 404) return false;
  const body = (err as { body?: unknown } | null)?.body;
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
  if (status === 403) return text.includes('NamespaceTerminating') || text.includes('is being terminated');
  return /namespaces? \\?"?[a-z0-9-]+\\?"? not found/.test(text) || text.includes('"kind":"namespaces"');
}
