import { Agent, request } from 'undici';

/**
 * A steady open-loop load: requests start at a fixed rate whether or not earlier ones have finished
 * (a closed loop would slow down exactly when a fault makes answers slow, and hide it). Every request
 * is remembered with its start, end and outcome, so a test can say which failures it expected.
 */
export interface LoadOptions {
  url: string;
  host: string;
  path: string;
  /** requests per second */
  rate: number;
  durationMs: number;
  /** a request still unanswered after this fails as "timeout" */
  timeoutMs?: number;
  /** GET by default; a POST carries `body` */
  method?: 'GET' | 'POST';
  body?: string;
}

export interface RequestOutcome {
  /** ms after the load began */
  startedAt: number;
  endedAt: number;
  /** HTTP status, or 0 when there was no answer */
  status: number;
  /** why it failed: "HTTP 502", "ECONNREFUSED", "timeout"…; undefined when it succeeded */
  reason?: string;
}

export interface LoadReport {
  sent: number;
  ok: number;
  failed: number;
  /** failures by reason */
  reasons: Record<string, number>;
  failures: RequestOutcome[];
  p50Ms: number;
  p99Ms: number;
  /** wall-clock ms at which the load began (Date.now()) */
  began: number;
}

export interface RunningLoad {
  began: number;
  /** ms since the load began */
  elapsed(): number;
  done: Promise<LoadReport>;
}

function errorReason(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  return e.code ?? e.cause?.code ?? e.message ?? String(err);
}

export function startLoad(opts: LoadOptions): RunningLoad {
  const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 10_000 });
  const began = Date.now();
  const outcomes: RequestOutcome[] = [];
  const pending = new Set<Promise<void>>();
  const one = async (): Promise<void> => {
    const startedAt = Date.now() - began;
    const o: RequestOutcome = { startedAt, endedAt: 0, status: 0 };
    try {
      const res = await request(`${opts.url}${opts.path}`, {
        method: opts.method ?? 'GET',
        headers: { host: opts.host },
        body: opts.body,
        dispatcher,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      await res.body.text();
      o.status = res.statusCode;
      if (res.statusCode !== 200) o.reason = `HTTP ${res.statusCode}`;
    } catch (err) {
      o.reason = errorReason(err);
    }
    o.endedAt = Date.now() - began;
    outcomes.push(o);
  };
  let sent = 0;
  const done = new Promise<LoadReport>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = Date.now() - began;
      const due = Math.min(
        Math.floor((elapsed * opts.rate) / 1000),
        Math.floor((opts.durationMs * opts.rate) / 1000),
      );
      for (; sent < due; sent++) {
        const p = one().finally(() => pending.delete(p));
        pending.add(p);
      }
      if (elapsed < opts.durationMs) return;
      clearInterval(tick);
      void Promise.all([...pending]).then(async () => {
        await dispatcher.close();
        const failures = outcomes.filter((o) => o.reason !== undefined);
        const reasons: Record<string, number> = {};
        for (const f of failures) reasons[f.reason as string] = (reasons[f.reason as string] ?? 0) + 1;
        const times = outcomes
          .filter((o) => o.reason === undefined)
          .map((o) => o.endedAt - o.startedAt)
          .sort((a, b) => a - b);
        const pct = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
        resolve({
          sent,
          ok: outcomes.length - failures.length,
          failed: failures.length,
          reasons,
          failures,
          p50Ms: pct(0.5),
          p99Ms: pct(0.99),
          began,
        });
      });
    }, 5);
  });
  return { began, elapsed: () => Date.now() - began, done };
}

/** One fault's line in test-results/faults-<protocol>.json and docs/reliability.md. */
export interface FaultRow {
  fault: string;
  sent: number;
  failed: number;
  reasons: Record<string, number>;
  p99Ms: number;
  note: string;
}
