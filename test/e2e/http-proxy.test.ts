import { createHash } from 'node:crypto';
import type http from 'node:http';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternBytes, patternSha256, startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { run } from '../helpers/processes.js';
import { agentArgs, startAgent, startEdgeSim, type AgentProc, type EdgeSimProc } from '../helpers/stack.js';

const HOST = 'app.test';
const MiB = 1024 * 1024;

/** A body of `n` pattern bytes, streamed in 64 KiB chunks so nothing holds it whole. */
function patternStream(n: number): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= n) {
        this.push(null);
        return;
      }
      const len = Math.min(64 * 1024, n - at);
      this.push(patternBytes(at, len));
      at += len;
    },
  });
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  bodyLength: number;
  bodySha256: string;
}

// One suite, both transports.
describe.each(['http2', 'quic'])('through edge-sim and the agent over %s', (protocol) => {
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: { server: http.Server; port: number };

  const visit = (path: string, opts: Parameters<typeof request>[1] = {}) =>
    request(`${edge.publicUrl}${path}`, {
      ...opts,
      headers: { host: HOST, ...(opts.headers as Record<string, string>) },
    });

  /** The response headers curl received for `path`, as raw text. */
  const curlHeaders = async (path: string) =>
    (
      await run('curl', [
        '-s',
        '-D',
        '-',
        '-o',
        '/dev/null',
        '-H',
        `Host: ${HOST}`,
        `${edge.publicUrl}${path}`,
      ])
    ).stdout;

  beforeAll(async () => {
    origin = await startEchoOrigin('origin-a');
    edge = await startEdgeSim({ tunnels: ['t1'], routes: [`${HOST}=t1`] });
    agent = await startAgent(
      agentArgs(edge, 't1', `http://127.0.0.1:${origin.port}`, ['--protocol', protocol]),
      { waitReady: 4 },
    );
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    origin?.server.close();
  });

  it('registers 4 connections with distinct indexes', async () => {
    const [t] = await edge.tunnels();
    expect(new Set(t?.connections.map((c) => (c as { protocol?: string }).protocol))).toEqual(
      new Set([protocol]),
    );
    expect(t?.connections.map((c) => c.connIndex).sort()).toEqual([0, 1, 2, 3]);
    expect(new Set(t?.connections.map((c) => c.clientId)).size).toBe(1);
  });

  for (const method of ['GET', 'HEAD', 'POST', 'PUT'] as const) {
    for (const size of [0, 1024, 64 * MiB]) {
      const withBody = method === 'POST' || method === 'PUT';
      if (!withBody && size > 0) continue;
      it(`${method} with a ${size}-byte body arrives intact`, async () => {
        const res = await visit('/echo', {
          method,
          body: withBody ? patternStream(size) : undefined,
          headers: withBody ? { 'content-length': String(size) } : {},
        });
        expect(res.statusCode).toBe(200);
        if (method === 'HEAD') {
          expect(await res.body.text()).toBe('');
          return;
        }
        const echo = (await res.body.json()) as Echo;
        expect(echo.method).toBe(method);
        expect(echo.bodyLength).toBe(size);
        expect(echo.bodySha256).toBe(patternSha256(size));
      }, 60_000);
    }
  }

  it('streams a 64 MiB response with a matching checksum', async () => {
    const res = await visit(`/bytes/${64 * MiB}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(64 * MiB));
    const h = createHash('sha256');
    let n = 0;
    for await (const c of res.body) {
      n += (c as Buffer).length;
      h.update(c as Buffer);
    }
    expect(n).toBe(64 * MiB);
    expect(h.digest('hex')).toBe(patternSha256(64 * MiB));
  }, 60_000);

  it('carries chunked requests and chunked responses', async () => {
    const req = await visit('/echo', { method: 'POST', body: patternStream(300_000) });
    const echo = (await req.body.json()) as Echo;
    expect(echo.headers['transfer-encoding']).toBe('chunked');
    expect(echo.bodySha256).toBe(patternSha256(300_000));
    const stdout = await curlHeaders('/bytes/100000?chunked=1');
    expect(stdout.toLowerCase()).toContain('transfer-encoding: chunked');
    expect(stdout.toLowerCase()).not.toContain('content-length');
  });

  it('passes 204, 304, 404 and 500 through', async () => {
    for (const code of [204, 304, 404, 500]) {
      const res = await visit(`/status/${code}`);
      expect(res.statusCode).toBe(code);
      expect(res.headers['x-origin']).toBe('origin-a');
      const body = await res.body.text();
      expect(body).toBe(code === 204 || code === 304 ? '' : `status ${code}\n`);
    }
  });

  it('keeps repeated Set-Cookie headers', async () => {
    const stdout = await curlHeaders('/cookies');
    const cookies = stdout.split('\r\n').filter((l) => l.toLowerCase().startsWith('set-cookie:'));
    expect(cookies).toEqual(['Set-Cookie: a=1; Path=/', 'Set-Cookie: b=2; HttpOnly']);
  });

  it('leaves query strings and percent-encoding unchanged', async () => {
    const path = '/echo/a%2Fb%20c/%E2%9C%93?q=1&q=2&x=%41%2b+&empty=';
    const echo = (await (await visit(path)).body.json()) as Echo;
    expect(echo.url).toBe(path);
  });

  it("adds the edge's headers and forwards the visitor's", async () => {
    const res = await visit('/echo', { headers: { 'x-custom': 'v1', 'x-forwarded-for': '203.0.113.9' } });
    const echo = (await res.body.json()) as Echo;
    expect(echo.headers.host).toBe(HOST);
    expect(echo.headers['x-custom']).toBe('v1');
    expect(echo.headers['cf-connecting-ip']).toBe('127.0.0.1');
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).toBe('http');
    expect(echo.headers['cf-visitor']).toBe('{"scheme":"http"}');
    expect(echo.headers['cf-ray']).toMatch(/^[0-9a-f]{16}-SIM$/);
    expect(res.headers['cf-ray']).toBe(echo.headers['cf-ray']);
    expect(res.headers.server).toBe('cloudflare');
  });

  it('handles Expect: 100-continue: the edge says continue, the body reaches the origin', async () => {
    const body = 'e'.repeat(100_000);
    const { stdout, stderr } = await run('curl', [
      '-s',
      '-v',
      '-H',
      `Host: ${HOST}`,
      '-H',
      'Expect: 100-continue',
      '--data-binary',
      body,
      `${edge.publicUrl}/echo`,
    ]);
    expect(stderr).toContain('HTTP/1.1 100 Continue');
    const echo = JSON.parse(stdout) as Echo & { bodyLength: number };
    expect(echo.bodyLength).toBe(body.length);
    expect(echo.headers.expect).toBeUndefined();
  });

  it('strips hop-by-hop headers', async () => {
    const { stdout } = await run('curl', [
      '-s',
      '-H',
      `Host: ${HOST}`,
      '-H',
      'Connection: keep-alive, x-secret-hop',
      '-H',
      'X-Secret-Hop: 1',
      '-H',
      'Keep-Alive: timeout=5',
      '-H',
      'Proxy-Connection: keep-alive',
      `${edge.publicUrl}/echo`,
    ]);
    const echo = JSON.parse(stdout) as Echo;
    expect(echo.headers['proxy-connection']).toBeUndefined();
    expect(echo.headers['x-secret-hop']).toBeUndefined();
    expect(echo.headers['keep-alive']).toBeUndefined();
  });

  it("answers Cloudflare's 530 / error 1001 for a hostname with no route", async () => {
    const res = await request(`${edge.publicUrl}/`, { headers: { host: 'unknown.test' } });
    expect(res.statusCode).toBe(530);
    expect(await res.body.text()).toContain('Error 1001');
  });
});
