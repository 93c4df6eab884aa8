import type { Logger } from 'pino';
import { Backoff } from '../connect/backoff.js';
import type { AgentMetrics } from '../observability/metrics.js';
import type { CloudflareClient, ZoneInfo } from './cloudflare-client.js';
import { planZone, zoneFor, type Conflict, type DnsOp, type NamePlan } from './dns-plan.js';

export interface DnsControllerOptions {
  client: CloudflareClient;
  /** `<tunnel-id>.cfargotunnel.com` */
  target: string;
  owner: string;
  policy: 'sync' | 'upsert-only';
  dryRun: boolean;
  /** only these zones (names); empty: every zone the token can see */
  zones: string[];
  /** host → ingress/NS/NAME for every host our Ingresses serve */
  desired(): Map<string, string>;
  isLeader(): boolean;
  onConflict?(c: Conflict): void;
  onNoZone?(host: string, resource: string): void;
  log: Logger;
  metrics?: AgentMetrics;
  resyncMs?: number;
  /** coalesces bursts of route changes into one run */
  debounceMs?: number;
  backoffBaseMs?: number;
}

interface NameBackoff {
  backoff: Backoff;
  notBefore: number;
}

/**
 * DNS automation, leader only and level-triggered: each run lists the zones and their records, plans
 * from scratch what our Ingresses need (dns-plan.ts) and applies it name by name. A name whose change
 * fails waits out its own backoff while the others go on; a run that cannot even list is retried with
 * backoff; nothing here throws out of the controller. A run costs only list calls when nothing changed.
 */
export class DnsController {
  private running = false;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly runBackoff: Backoff;
  private readonly nameBackoff = new Map<string, NameBackoff>();
  /** the last plan's conflicts, for /debug and tests */
  conflicts: Conflict[] = [];
  runs = 0;
  lastError: string | null = null;
  /** when the last pass that succeeded ended (ISO time), for the dashboard */
  lastSyncAt: string | null = null;

  constructor(private readonly opts: DnsControllerOptions) {
    this.runBackoff = new Backoff(opts.backoffBaseMs ?? 1000, 6);
  }

  /** Something changed (routes, leadership): sync soon. */
  trigger(delayMs = this.opts.debounceMs ?? 200): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(delayMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    if (this.stopped || this.running) return;
    if (!this.opts.isLeader()) return;
    this.running = true;
    this.again = false;
    let next = this.opts.resyncMs ?? 60_000;
    try {
      const retryIn = await this.sync();
      this.runBackoff.reset();
      this.lastError = null;
      this.lastSyncAt = new Date().toISOString();
      this.opts.metrics?.dnsSyncs.inc({ result: 'ok' });
      if (retryIn !== null) next = Math.min(next, retryIn);
    } catch (err) {
      // Backoff, but never longer than the resync period: an outage that ends is noticed promptly.
      next = Math.max(Math.min(this.runBackoff.next(), this.opts.resyncMs ?? 60_000), 500);
      this.lastError = describe(err);
      this.opts.metrics?.dnsSyncs.inc({ result: 'error' });
      this.opts.log.warn({ err: this.lastError, retryInMs: next }, 'DNS sync failed; retrying');
    } finally {
      this.running = false;
      this.runs++;
    }
    if (this.stopped) return;
    if (this.again) this.trigger();
    else this.schedule(next);
  }

  /** One pass now, errors thrown (tests and the benchmark drive it this way). */
  syncNow(): Promise<number | null> {
    return this.sync();
  }

  /** One pass; returns how soon a name in backoff wants another, or null. */
  private async sync(): Promise<number | null> {
    const { client, log } = this.opts;
    const wanted = new Set(this.opts.zones.map((z) => z.toLowerCase().replace(/\.$/, '')));
    const zones = (await client.listZones()).filter((z) => wanted.size === 0 || wanted.has(z.name));
    const desired = this.opts.desired();
    const byZone = new Map<string, Map<string, string>>();
    const names = zones.map((z) => z.name);
    for (const [host, resource] of desired) {
      const zone = zoneFor(host, names);
      if (zone === null) {
        this.opts.onNoZone?.(host, resource);
        continue;
      }
      let m = byZone.get(zone);
      if (m === undefined) byZone.set(zone, (m = new Map()));
      m.set(host, resource);
    }
    const conflicts: Conflict[] = [];
    let soonest: number | null = null;
    for (const zone of zones) {
      const records = await client.listRecords(zone.id);
      const plan = planZone({
        zone: zone.name,
        desired: byZone.get(zone.name) ?? new Map(),
        records,
        owner: this.opts.owner,
        target: this.opts.target,
        policy: this.opts.policy,
      });
      conflicts.push(...plan.conflicts);
      for (const np of plan.names) {
        const wait = await this.applyName(zone, np);
        if (wait !== null) soonest = soonest === null ? wait : Math.min(soonest, wait);
      }
    }
    for (const c of conflicts) {
      if (!this.conflicts.some((p) => p.host === c.host && p.held === c.held)) {
        log.warn(
          { host: c.host, ingress: c.resource, heldBy: c.held },
          'DNS name held by records we do not own; left alone',
        );
      }
      this.opts.onConflict?.(c);
    }
    this.conflicts = conflicts;
    this.opts.metrics?.dnsConflicts.set(conflicts.length);
    return soonest;
  }

  /** Applies one name's changes in order; on a failure the name backs off. Returns its wait, if any. */
  private async applyName(zone: ZoneInfo, np: NamePlan): Promise<number | null> {
    const { client, log, metrics } = this.opts;
    const key = `${zone.id}/${np.host}`;
    const b = this.nameBackoff.get(key);
    const now = Date.now();
    if (b !== undefined && now < b.notBefore) return b.notBefore - now;
    if (this.opts.dryRun) {
      for (const op of np.ops) {
        log.info({ zone: zone.name, host: np.host, ...summary(op) }, 'DNS change (dry run, not applied)');
        metrics?.dnsOperations.inc({ op: op.op, result: 'dry_run' });
      }
      return null;
    }
    for (const op of np.ops) {
      try {
        if (op.op === 'create') await client.createRecord(zone.id, op);
        else if (op.op === 'update') await client.updateRecord(zone.id, op.id, op);
        else await client.deleteRecord(zone.id, op.id);
        metrics?.dnsOperations.inc({ op: op.op, result: 'ok' });
        log.info({ zone: zone.name, host: np.host, ...summary(op) }, 'DNS record changed');
      } catch (err) {
        metrics?.dnsOperations.inc({ op: op.op, result: 'error' });
        const nb = b ?? { backoff: new Backoff(this.opts.backoffBaseMs ?? 1000, 8), notBefore: 0 };
        const wait = Math.max(Math.min(nb.backoff.next(), this.opts.resyncMs ?? 60_000), 250);
        nb.notBefore = Date.now() + wait;
        this.nameBackoff.set(key, nb);
        log.warn(
          { zone: zone.name, host: np.host, ...summary(op), err: describe(err), retryInMs: wait },
          'DNS change failed; this name retries with backoff',
        );
        return wait;
      }
    }
    this.nameBackoff.delete(key);
    return null;
  }
}

function summary(op: DnsOp): Record<string, unknown> {
  return op.op === 'delete'
    ? { op: op.op, type: op.type, name: op.name }
    : { op: op.op, type: op.type, name: op.name, content: op.content, proxied: op.proxied };
}

/** An SDK error as one line: status and Cloudflare's error codes, never headers (they hold the token). */
export function describe(err: unknown): string {
  const e = err as { status?: number; errors?: Array<{ code?: number; message?: string }>; message?: string };
  if (typeof e?.status === 'number') {
    const codes = (e.errors ?? []).map((x) => `${x.code ?? '?'} ${x.message ?? ''}`.trim()).join('; ');
    return `HTTP ${e.status}${codes ? `: ${codes}` : ''}`;
  }
  return e?.message ?? String(err);
}
