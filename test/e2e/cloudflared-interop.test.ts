import type http from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternBytes, patternSha256, startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { spawnBinary, type Proc } from '../helpers/processes.js';
import { cloudflaredArgs, startEdgeSim, type EdgeSimProc } from '../helpers/stack.js';

/**
 * Real cloudflared against edge-sim. No cloudflared binary can be installed from the registries these
 * machines reach, so this runs where CLOUDFLARED_BIN names one (docs/protocol.md says how it was run).
 */
const BIN = process.env.CLOUDFLARED_BIN;

describe.skipIf(BIN === undefined).each(['http2', 'quic'])(
  'real cloudflared joins edge-sim over %s',
  (protocol) => {
    let edge: EdgeSimProc;
    let origin: { server: http.Server; port: number };
    let cfd: Proc;

    beforeAll(async () => {
      origin = await startEchoOrigin('behind-cloudflared');
      edge = await startEdgeSim({ tunnels: ['cfd'], routes: ['cfd.test=cfd'] });
      cfd = spawnBinary(
        'cloudflared',
        BIN as string,
        await cloudflaredArgs(edge, 'cfd', `http://127.0.0.1:${origin.port}`, protocol),
      );
      await cfd.waitFor((l) => /Registered tunnel connection/.test(String(l.msg)), 20_000);
    }, 60_000);

    afterAll(async () => {
      await cfd?.stop();
      await edge?.stop();
      origin?.server.close();
    });

    it('registers and serves GET and a streamed POST', async () => {
      const [t] = await edge.tunnels();
      expect(t?.connections[0]).toMatchObject({ protocol });
      expect(t?.connections[0]?.features).toContain('serialized_headers');
      const get = await request(`${edge.publicUrl}/cookies`, { headers: { host: 'cfd.test' } });
      expect(get.statusCode).toBe(200);
      expect(get.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
      await get.body.text();
      const size = 4 * 1024 * 1024;
      const post = await request(`${edge.publicUrl}/echo`, {
        method: 'POST',
        headers: { host: 'cfd.test', 'content-length': String(size) },
        body: patternBytes(0, size),
      });
      const echo = (await post.body.json()) as { bodySha256: string; headers: Record<string, string> };
      expect(echo.bodySha256).toBe(patternSha256(size));
      expect(echo.headers['cf-ray']).toMatch(/-SIM$/);
    });

    it('exits within 1 s of SIGTERM with nothing in flight (the edge closes its drained connections)', async () => {
      const t0 = Date.now();
      cfd.signal('SIGTERM');
      await cfd.exited;
      expect(Date.now() - t0).toBeLessThan(1000);
    });
  },
);
