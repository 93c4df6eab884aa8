import { EventEmitter } from 'node:events';
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeApiError, statusOf } from '../kube/errors.js';

export interface LeaderElectionOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics: a candidate takes
 * the lease when its holder has not renewed it for leaseDuration *as observed locally* (no trust in
 * other clocks), the leader renews every retryPeriod and steps down if it cannot renew within
 * renewDeadline, every write is conditional on the resourceVersion read, and a graceful stop releases
 * the lease so the next leader need not wait.
 */
export class LeaderElector extends EventEmitter<{ change: [boolean] }> {
  private leader = false;
  private observed: { holder: string; renewTime: string; at: number } | null = null;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;

  constructor(private readonly opts: LeaderElectionOptions) {
    super();
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    void this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    // client-go jitters the retry by up to 20 % so that candidates do not move in lockstep.
    this.timer = setTimeout(() => void this.tick(), this.retryMs * (1 + Math.random() * 0.2));
  }

  private setLeader(v: boolean): void {
    if (v === this.leader) return;
    this.leader = v;
    this.opts.log.info(
      { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity },
      v ? 'became leader' : 'stopped leading',
    );
    this.emit('change', v);
  }

  private async tick(): Promise<void> {
    try {
      const ok = await this.tryAcquireOrRenew();
      if (ok) this.lastRenew = Date.now();
      if (ok) this.setLeader(true);
      else if (this.leader && Date.now() - this.lastRenew > this.renewDeadlineMs) this.setLeader(false);
      else if (!ok && this.leader) this.setLeader(false);
    } catch (err) {
      this.opts.log.warn({ err: describeApiError(err) }, 'leader election: lease update failed');
      if (this.leader && Date.now() - this.lastRenew > this.renewDeadlineMs) this.setLeader(false);
    }
    this.schedule();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity } = this.opts;
    const now = new V1MicroTime(Date.now());
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      await api.createNamespacedLease({
        namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: Math.round(this.leaseMs / 1000),
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewRaw = spec.renewTime === undefined ? '' : new Date(spec.renewTime).toISOString();
    if (this.observed === null || this.observed.holder !== holder || this.observed.renewTime !== renewRaw) {
      this.observed = { holder, renewTime: renewRaw, at: Date.now() };
    }
    const duration = (spec.leaseDurationSeconds ?? this.leaseMs / 1000) * 1000;
    if (holder !== '' && holder !== identity && this.observed.at + duration > Date.now()) return false;
    const taking = holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: Math.round(this.leaseMs / 1000),
      renewTime: now,
      acquireTime: taking
        ? now
        : spec.acquireTime === undefined
          ? now
          : new V1MicroTime(new Date(spec.acquireTime).getTime()),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (taking && holder !== '' ? 1 : 0),
    };
    try {
      await api.replaceNamespacedLease({ name, namespace, body: lease });
    } catch (err) {
      if (statusOf(err) === 409) return false; // someone else wrote first: read again next round
      throw err;
    }
    return true;
  }

  /** Stops campaigning; the leader gives the lease up so that another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (!this.leader) return;
    const { api, namespace, name } = this.opts;
    try {
      const lease = await api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity === this.opts.identity) {
        lease.spec = {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: new V1MicroTime(Date.now()),
        };
        if (lease.spec.acquireTime !== undefined)
          lease.spec.acquireTime = new V1MicroTime(new Date(lease.spec.acquireTime).getTime());
        await api.replaceNamespacedLease({ name, namespace, body: lease });
      }
    } catch (err) {
      this.opts.log.warn({ err: describeApiError(err) }, 'could not release the lease');
    }
    this.setLeader(false);
  }
}
