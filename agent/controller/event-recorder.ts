import { randomBytes } from 'node:crypto';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeApiError } from '../kube/errors.js';
import type { Ingress } from '../routing/types.js';

/**
 * Events on Ingresses, written by the leader only. An event that repeats (same object, reason and
 * message) is not written again while it is fresh; after `refreshMs` its count and lastTimestamp are
 * bumped on the same Event object, as client-go's recorder does. A failed write is logged, never thrown:
 * Events are advice, and the routes do not wait for them.
 */
export interface Recorded {
  name: string;
  namespace: string;
  count: number;
  first: Date;
  lastWritten: number;
}

export class EventRecorder {
  private readonly seen = new Map<string, Recorded>();
  readonly component = 'tunnel-ingress';
  /** told of every Event written (the dashboard's activity list) */
  onRecorded: ((ing: Ingress, type: 'Normal' | 'Warning', reason: string, message: string) => void) | null =
    null;

  constructor(
    private readonly api: CoreV1Api,
    private readonly instance: string,
    private readonly log: Logger,
    private readonly refreshMs = 5 * 60_000,
  ) {}

  async record(ing: Ingress, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const meta = ing.metadata ?? {};
    const namespace = meta.namespace ?? 'default';
    const key = `${meta.uid ?? `${namespace}/${meta.name ?? ''}`}\u0000${reason}\u0000${message}`;
    const now = new Date();
    const prev = this.seen.get(key);
    if (prev !== undefined && Date.now() - prev.lastWritten < this.refreshMs) return;
    const count = (prev?.count ?? 0) + 1;
    const name = prev?.name ?? `${meta.name ?? 'ingress'}.${randomBytes(8).toString('hex')}`;
    const body: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
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
    this.seen.set(key, { name, namespace, count, first: prev?.first ?? now, lastWritten: Date.now() });
    try {
      if (prev === undefined) await this.api.createNamespacedEvent({ namespace, body });
      else await this.api.replaceNamespacedEvent({ name, namespace, body });
      this.onRecorded?.(ing, type, reason, message);
    } catch (err) {
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
    for (const k of this.seen.keys()) if (k.startsWith(`${uid}\u0000`)) this.seen.delete(k);
  }
}
