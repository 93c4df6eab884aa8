import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/processes.js';
import { agentArgs, startAgent, startEdgeSim, type AgentProc, type EdgeSimProc } from '../helpers/stack.js';

/**
 * A visitor announces an upload, sends part of it or nothing, and leaves. The edge resets the stream;
 * the agent must abort the origin request too, on both transports, or every such visitor leaves an
 * origin connection (and a request the origin waits on) open for good.
 */
const HOST = 'up.test';
const UPLOADS = 50;

describe.each(['http2', 'quic'])('abandoned uploads over %s', (protocol) => {
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: http.Server;
  let openSockets = 0;
  let requestsSeen = 0;
  const log: string[] = [];

  beforeAll(async () => {
    // An origin that reads uploads and answers once the body has ended.
    origin = http.createServer((req, res) => {
      requestsSeen++;
      req.resume();
      req.on('end', () => res.end('stored'));
    });
    origin.on('connection', (s: net.Socket) => {
      openSockets++;
      log.push(`open ${s.remotePort} ${Date.now() % 100000}`);
      s.on('close', () => {
        openSockets--;
        log.push(`close ${s.remotePort} ${Date.now() % 100000}`);
      });
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    edge = await startEdgeSim({ tunnels: ['t'], routes: [`${HOST}=t`] });
    agent = await startAgent(
      agentArgs(edge, 't', `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, [
        '--protocol',
        protocol,
        '--ha-connections',
        '1',
      ]),
      { waitReady: 1 },
    );
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    origin?.closeAllConnections();
    origin?.close();
  });

  const inflight = async () => {
    const text = await (await request(`${agent.metricsUrl}/metrics`)).body.text();
    const m = /^tunnel_ingress_streams_in_flight (\d+)/m.exec(text);
    return Number(m?.[1] ?? NaN);
  };

  it('aborts the origin request when the visitor leaves before its body', async () => {
    const { port } = new URL(edge.publicUrl);
    const sockets: net.Socket[] = [];
    for (let i = 0; i < UPLOADS; i++) {
      const s = net.connect(Number(port), '127.0.0.1');
      s.on('error', () => {});
      // Half of them send a first part of the body, half send nothing.
      s.write(
        `POST /upload/${i} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1000000\r\n\r\n${i % 2 === 0 ? 'x'.repeat(1000) : ''}`,
      );
      sockets.push(s);
    }
    // undici sends a request's head with the first byte of its body: the origin sees the half that sent
    // one as requests (and a connection for most of the others).
    await waitUntil(
      async () => (requestsSeen >= UPLOADS / 2 && (await inflight()) === UPLOADS ? true : undefined),
      10_000,
      'every upload at the origin',
    ).catch(async (e: Error) => {
      throw new Error(
        `${e.message}: ${requestsSeen} requests, ${openSockets} sockets, ${await inflight()} in flight`,
      );
    });
    expect(openSockets).toBeGreaterThanOrEqual(UPLOADS / 2);
    for (const s of sockets) s.destroy();
    await waitUntil(
      async () => (openSockets === 0 ? true : undefined),
      10_000,
      'every origin connection closed',
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}: ${openSockets} open, ${requestsSeen} requests ${JSON.stringify(log.slice(-8))}`,
      );
    });
    expect(await inflight()).toBe(0);
    // The next upload is served.
    const res = await request(`${edge.publicUrl}/upload/next`, {
      method: 'POST',
      headers: { host: HOST },
      body: 'small',
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('stored');
  });
});
