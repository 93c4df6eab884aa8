import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Ingress } from '../routing/types.js';
import {
  EVENT_CACHE_SIZE,
  EventRecorder,
  MAX_MESSAGE_BYTES,
  SPAM_BURST,
  SPAM_REFILL_MS,
  TRUNCATED,
  truncateMessage,
} from './event-recorder.js';

interface Call {
  verb: 'create' | 'replace';
  namespace: string;
  message: string;
}

/** The two API calls the recorder makes, answered as told; everything it writes is kept. */
function fakeApi(fail: (namespace: string) => unknown = () => null) {
  const calls: Call[] = [];
  const answer = (verb: Call['verb'], p: { namespace: string; body: { message?: string } }) => {
    calls.push({ verb, namespace: p.namespace, message: p.body.message ?? '' });
    const err = fail(p.namespace);
    return err === null ? Promise.resolve(p.body) : Promise.reject(err);
  };
  return {
    calls,
    api: {
      createNamespacedEvent: (p: never) => answer('create', p),
      replaceNamespacedEvent: (p: never) => answer('replace', p),
    } as unknown as ConstructorParameters<typeof EventRecorder>[0],
  };
}

function logger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const dest = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      cb();
    },
  });
  return { lines, log: pino({ level: 'debug' }, dest) };
}

const ing = (name: string, namespace = 'team-a', extra: Record<string, unknown> = {}): Ingress => ({
  metadata: { name, namespace, uid: `uid-${namespace}-${name}`, ...extra },
});

describe('EventRecorder bounds', () => {
  it('cuts a message to the API server limit, with a marker', () => {
    const long = `annotation x: "${'é'.repeat(100_000)}" is not valid`;
    const cut = truncateMessage(long);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(cut.endsWith(TRUNCATED)).toBe(true);
    expect(truncateMessage('short')).toBe('short');
  });

  it('writes a burst of 25 Events per object, then one per five minutes, each message cut', async () => {
    const { api, calls } = fakeApi();
    let now = 1_000_000;
    const rec = new EventRecorder(api, 'test', logger().log, 5 * 60_000, () => now);
    // A tenant patching a 200 KB annotation 300 times, each value different.
    for (let i = 0; i < 300; i++)
      await rec.record(
        ing('big'),
        'Warning',
        'InvalidAnnotation',
        `x: "${String(i).padEnd(200_000, 'v')}" is bad`,
      );
    expect(calls.length).toBe(SPAM_BURST);
    for (const c of calls) expect(Buffer.byteLength(c.message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    // Another object is not held back by the first one's bucket.
    await rec.record(ing('other'), 'Warning', 'InvalidAnnotation', 'x: "1" is bad');
    expect(calls.length).toBe(SPAM_BURST + 1);
    now += SPAM_REFILL_MS;
    await rec.record(ing('big'), 'Warning', 'InvalidAnnotation', 'after the refill');
    await rec.record(ing('big'), 'Warning', 'InvalidAnnotation', 'and one too many');
    expect(calls.map((c) => c.message).slice(-1)).toEqual(['after the refill']);
  });

  it('remembers at most 4,096 events however many objects write', async () => {
    const { api, calls } = fakeApi();
    const rec = new EventRecorder(api, 'test', logger().log);
    for (let i = 0; i < 10_000; i++) await rec.record(ing(`ing-${i}`), 'Normal', 'Sync', 'synced');
    expect(calls.length).toBe(10_000);
    expect(rec.size).toBe(EVENT_CACHE_SIZE);
  });

  it('skips a namespace being deleted quietly, without retrying, and an Ingress being deleted', async () => {
    const terminating = Object.assign(new Error('HTTP-Code: 403'), {
      code: 403,
      body: JSON.stringify({
        kind: 'Status',
        message:
          'events "x" is forbidden: unable to create new content in namespace gone because it is being terminated',
        details: { causes: [{ reason: 'NamespaceTerminating' }] },
        code: 403,
      }),
    });
    const { api, calls } = fakeApi((ns) => (ns === 'gone' ? terminating : null));
    const { log, lines } = logger();
    const rec = new EventRecorder(api, 'test', log);
    await rec.record(ing('a', 'gone'), 'Warning', 'BackendNotFound', 'one');
    await rec.record(ing('b', 'gone'), 'Warning', 'BackendNotFound', 'two');
    await rec.record(
      ing('c', 'team-a', { deletionTimestamp: '2026-12-02T00:00:00Z' }),
      'Normal',
      'Sync',
      'x',
    );
    expect(calls.map((c) => c.namespace)).toEqual(['gone']);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});
