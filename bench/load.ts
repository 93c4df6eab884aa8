import { Pool } from 'undici';

/**
 * A closed-loop load generator: `concurrency` workers each send a request, read the whole answer and
 * send the next, for a fixed time. Latencies are kept for percentiles.
 */
export interface LoadResult {
  requests: number;
  errors: number;
  /** what the errors were: status codes or error codes, with counts */
  errorKinds: Record<string, number>;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
}

export async function runLoad(opts: {
  url: string;
  path: string;
  host?: string;
  concurrency: number;
  durationMs: number;
}): Promise<LoadResult> {
  const u = new URL(opts.url);
  const pool = new Pool(u.origin, { connections: opts.concurrency, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const errorKinds: Record<string, number> = {};
  const note = (kind: string) => {
    errors++;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };
  const headers = opts.host === undefined ? {} : { host: opts.host };
  const start = performance.now();
  const end = start + opts.durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const res = await pool.request({ path: opts.path, method: 'GET', headers });
        await res.body.dump({ limit: Number.MAX_SAFE_INTEGER });
        if (res.statusCode !== 200) note(`HTTP ${res.statusCode}`);
        else latencies.push(performance.now() - t0);
      } catch (err) {
        note((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return {
    requests: latencies.length,
    errors,
    errorKinds,
    seconds,
    rps: latencies.length / seconds,
    p50ms: pct(0.5),
    p99ms: pct(0.99),
  };
}

/** One download of `path`, read to the end; MiB/s. */
export async function download(
  url: string,
  path: string,
  host: string | undefined,
): Promise<{ bytes: number; mibPerSec: number }> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 1 });
  const t0 = performance.now();
  const res = await pool.request({ path, method: 'GET', headers: host === undefined ? {} : { host } });
  let bytes = 0;
  for await (const c of res.body) bytes += (c as Buffer).length;
  const s = (performance.now() - t0) / 1000;
  await pool.close();
  return { bytes, mibPerSec: bytes / 1024 / 1024 / s };
}
