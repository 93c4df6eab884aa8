import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FaultRow } from '../test/helpers/load.js';
import { ROOT } from '../test/helpers/processes.js';
import { fmt } from './format.js';

/**
 * `npm run bench -- faults`: test/e2e/faults-under-load.test.ts at its full length (20 s of load per
 * fault, the Cloudflare API down for 30 s), then its reports as the table in docs/reliability.md.
 */

export async function benchFaults(): Promise<string[]> {
  await new Promise<void>((resolve, reject) =>
    execFile(
      'npx',
      ['vitest', 'run', 'test/e2e/faults-under-load.test.ts'],
      {
        cwd: ROOT,
        env: { ...process.env, TI_FAULT_LOAD_SECONDS: '20', TI_FAULT_API_DOWN_SECONDS: '30' },
        maxBuffer: 64 << 20,
      },
      (err, stdout) =>
        err === null ? resolve() : reject(new Error(`${err.message}\n${stdout.slice(-4000)}`)),
    ),
  );
  const out = [
    '### Faults under a steady load (test/e2e/faults-under-load.test.ts)',
    '',
    '| transport | fault | sent | failed | why | p99 ms | notes |',
    '|---|---|---:|---:|---|---:|---|',
  ];
  for (const protocol of ['http2', 'quic']) {
    const r = JSON.parse(
      await readFile(path.join(ROOT, 'test-results', `faults-${protocol}.json`), 'utf8'),
    ) as {
      rows: FaultRow[];
    };
    for (const row of r.rows) {
      const why = Object.entries(row.reasons)
        .map(([k, v]) => `${k} × ${v}`)
        .join(', ');
      out.push(
        `| ${protocol} | ${row.fault} | ${fmt(row.sent)} | **${row.failed}** | ${why || '—'} | ${fmt(row.p99Ms)} | ${row.note} |`,
      );
    }
  }
  return out;
}
