import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentArgs, startAgent, startEdgeSim, type AgentProc, type EdgeSimProc } from '../helpers/stack.js';

// Node's fetch will not set Host, so the edge routes the visitor's own address (127.0.0.1) here.
/**
 * Server-sent events through the tunnel to an EventSource client, on both transports: nothing is
 * buffered, so each event arrives within 50 ms of the origin writing it, including after a quiet gap
 * longer than the QUIC idle timeout and the keepalive periods; and reconnection with Last-Event-ID works.
 */
describe.each(['http2', 'quic'])('server-sent events over %s', (protocol) => {
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let server: http.Server;

  beforeAll(async () => {
    // Each event carries the origin's clock when it was written; origin and test share the machine.
    server = http.createServer((req, res) => {
      const from = Number(req.headers['last-event-id'] ?? 0);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': hello\n\n');
      const gaps = [50, 100, 200, 7000, 20, 20, 300];
      let i = from;
      const next = () => {
        if (i >= gaps.length) return res.end();
        setTimeout(() => {
          i++;
          res.write(`id: ${i}\nevent: tick\ndata: ${JSON.stringify({ i, at: Date.now() })}\n\n`);
          next();
        }, gaps[i]);
      };
      next();
      req.on('close', () => (i = gaps.length));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    edge = await startEdgeSim({ tunnels: ['sse'], routes: ['127.0.0.1=sse'] });
    agent = await startAgent(
      agentArgs(edge, 'sse', `http://127.0.0.1:${port}`, ['--protocol', protocol, '--ha-connections', '1']),
      {
        waitReady: 1,
      },
    );
  }, 30_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    server?.closeAllConnections();
    server?.close();
  });

  /** One pass: events 1-4, a reconnect with Last-Event-ID 4, events 5-7; how late each arrived. */
  async function pass(): Promise<{ ids: string[]; lateness: number[] }> {
    const lateness: number[] = [];
    const ids: string[] = [];
    const es = new EventSource(`${edge.publicUrl}/events`);
    let closed = false;
    await new Promise<void>((resolve, reject) => {
      es.addEventListener('tick', (e) => {
        // Events 4 and 5 are 20 ms apart: on a loaded machine they can arrive in one chunk, and the
        // eventsource package dispatches the rest of a chunk after close() (a browser does not).
        if (closed) return;
        const { i, at } = JSON.parse(e.data) as { i: number; at: number };
        lateness.push(Date.now() - at);
        ids.push(e.lastEventId);
        if (i === 4) {
          // Drop the connection and let EventSource resume from Last-Event-ID.
          closed = true;
          es.close();
          resolve();
        }
      });
      es.onerror = (err) => reject(new Error(`EventSource error: ${String(err.message)}`));
    });
    // (a new EventSource with the id from the first: a real browser resumes the same way)
    const es2 = new EventSource(`${edge.publicUrl}/events`, {
      fetch: (input, init) =>
        fetch(input, {
          ...init,
          headers: { ...(init?.headers as Record<string, string>), 'last-event-id': '4' },
        }),
    });
    await new Promise<void>((resolve) => {
      es2.addEventListener('tick', (e) => {
        const { i, at } = JSON.parse(e.data) as { i: number; at: number };
        lateness.push(Date.now() - at);
        ids.push(e.lastEventId);
        if (i === 7) resolve();
      });
    });
    es2.close();
    return { ids, lateness };
  }

  it('delivers every event within 50 ms of the origin writing it, across a 7 s quiet gap', async () => {
    // Buffering would make every pass late; the suite's other processes share two cores and can delay
    // one pass now and then, so up to three passes are made and one must be on time throughout.
    const worst: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const { ids, lateness } = await pass();
      expect(ids).toEqual(['1', '2', '3', '4', '5', '6', '7']);
      worst.push(Math.max(...lateness));
      if (worst[worst.length - 1]! < 50) break;
    }
    expect(Math.min(...worst)).toBeLessThan(50);
  }, 60_000);
});
