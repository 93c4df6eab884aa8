import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKube, type KubeProc } from '../helpers/kube.js';
import {
  POD_IP,
  INGRESS_CLASS,
  countingOrigin,
  ingress,
  service,
  slice,
  type CountingOrigin,
} from '../helpers/origins.js';
import { tempDir } from '../helpers/processes.js';
import { registerSecret } from '../helpers/secret-scan.js';
import {
  agentArgs,
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * The dashboard in real headless Chromium (Debian's package, driven by playwright-core): it shows the
 * live connections, the routes, and a request this test just sent; a screenshot is saved. .ci/run
 * installs chromium; elsewhere the test says how to get it.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.resolve('test-results');

describe('dashboard', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: CountingOrigin;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    }
    origin = await countingOrigin('dash-origin');
    k = await startKube();
    edge = await startEdgeSim({ tunnels: ['dash'], routes: ['dash.test=dash'] });
    await k.apply(
      [
        INGRESS_CLASS,
        service('web'),
        slice('web-1', 'web', origin.port, [{}]),
        ingress('dash', [{ host: 'dash.test', paths: [['/', 'Prefix', 'web']] }]),
        ingress('broken', [{ host: 'broken.test', paths: [['/', 'Prefix', 'missing']] }]),
        ingress(
          'fallback',
          [{ host: 'fb.test', paths: [['/', 'Prefix', 'web']] }],
          '  defaultBackend: {service: {name: web, port: {name: http}}}\n',
        ),
      ].join('---\n'),
    );
    agent = await startAgent(kubeAgentArgs(edge, 'dash', k, ['--ha-connections', '2']), {
      waitReady: 2,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    await origin?.close();
  });

  it('shows live connections, routes, Events and a request just sent', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${agent.metricsUrl}/dashboard`);
    // Locators, not waitForFunction: the page's Content-Security-Policy forbids eval, as it should.
    await page.locator('#connections tbody tr').nth(1).waitFor();
    await page.locator('#state', { hasText: '2 of 2 connections up' }).waitFor();
    const connections = await page.locator('#connections tbody tr').allInnerTexts();
    for (const c of connections) {
      expect(c).toContain('registered');
      expect(c).toContain('SIM');
    }
    // Endpoints arrive through their own reconcile, a moment after the routes.
    await page
      .locator('#routes tbody tr', { hasText: `${POD_IP}:${origin.port}` })
      .first()
      .waitFor();
    const routes = await page.locator('#routes tbody').innerText();
    expect(routes).toContain(`${k.namespace}/dash`);
    expect(routes).toContain(`${POD_IP}:${origin.port}`);
    expect(routes).toMatch(new RegExp(`broken\\.test[^\\n]*${k.namespace}/broken`));
    await page.locator('#activity tbody tr', { hasText: 'broken' }).first().waitFor();
    // The default backend, leadership, the caches and DNS are on the page too.
    await page.locator('#routes tbody tr', { hasText: 'default backend' }).waitFor();
    expect(await page.locator('#routes tbody tr', { hasText: 'default backend' }).innerText()).toContain(
      `${k.namespace}/fallback`,
    );
    await page.locator('#leader', { hasText: 'this replica' }).waitFor();
    await page.locator('#caches', { hasText: 'synced' }).waitFor();
    expect(await page.locator('#dns').innerText()).toContain('off (no Cloudflare API token)');
    // Events come before the stream of requests.
    const sections = await page.locator('h2').allInnerTexts();
    expect(sections.findIndex((h) => h.startsWith('Events'))).toBeLessThan(
      sections.findIndex((h) => h.startsWith('Requests')),
    );

    const marker = `/seen-in-chromium-${Date.now()}`;
    const res = await request(`${edge.publicUrl}${marker}`, { headers: { host: 'dash.test' } });
    await res.body.text();
    expect(res.statusCode).toBe(200);
    const ray = String(res.headers['cf-ray']).split('-')[0] as string;
    await page.locator('#requests tbody tr', { hasText: marker }).waitFor();
    const line = await page.locator('#requests tbody tr', { hasText: marker }).innerText();
    expect(line).toContain('dash.test');
    expect(line).toContain('200');
    expect(line).toContain(ray);

    await mkdir(SHOTS, { recursive: true });
    const shot = path.join(SHOTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(existsSync(shot)).toBe(true);
    await page.close();
  }, 60_000);

  it('fits a 420 px wide screen: nothing but the tables scrolls sideways', async () => {
    // bypassCSP only so that the test can measure the layout; the page itself runs under its policy.
    const context = await browser.newContext({ viewport: { width: 420, height: 900 }, bypassCSP: true });
    const page = await context.newPage();
    await page.goto(`${agent.metricsUrl}/dashboard`);
    await page.locator('#state', { hasText: '2 of 2 connections up' }).waitFor();
    await page.locator('#routes tbody tr', { hasText: 'default backend' }).waitFor();
    // A string, evaluated in the page (this file is type-checked without the DOM's types).
    const widths = (await page.evaluate(
      '({ page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth })',
    )) as { page: number; view: number };
    expect(widths.page).toBeLessThanOrEqual(widths.view);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-420.png'), fullPage: true });
    await context.close();
  }, 30_000);
});

describe('admin endpoints beyond localhost', () => {
  let edge: EdgeSimProc;
  let origin: CountingOrigin;
  let tmp: { dir: string; remove(): Promise<void> };
  beforeAll(async () => {
    tmp = await tempDir('admin');
    origin = await countingOrigin('admin-origin');
    edge = await startEdgeSim({ tunnels: ['adm'], routes: [] });
  }, 30_000);
  afterAll(async () => {
    await edge?.stop();
    await origin?.close();
    await tmp?.remove();
  });

  it('need the token there, except the probes and metrics; without a token they are off', async () => {
    const tokenFile = path.join(tmp.dir, 'admin-token');
    await writeFile(tokenFile, 'a-long-enough-admin-token-0123');
    registerSecret('a-long-enough-admin-token-0123');
    const url = `http://${POD_IP}:${origin.port}`;
    for (const withToken of [true, false]) {
      const agent = await startAgent(
        [
          ...agentArgs(edge, 'adm', url, ['--ha-connections', '1']),
          '--metrics',
          '0.0.0.0:0',
          ...(withToken ? ['--admin-token-file', tokenFile] : []),
        ],
        { waitReady: 1 },
      );
      try {
        const base = agent.metricsUrl.replace('0.0.0.0', '127.0.0.1');
        const get = async (p: string, auth?: string) => {
          const r = await request(
            `${base}${p}`,
            auth === undefined ? {} : { headers: { authorization: `Bearer ${auth}` } },
          );
          await r.body.text();
          return r.statusCode;
        };
        for (const p of ['/ready', '/healthz', '/metrics']) expect(await get(p)).toBe(200);
        for (const p of ['/dashboard', '/api/overview', '/requests', '/debug/routes']) {
          expect(await get(p)).toBe(withToken ? 401 : 404);
          if (withToken) {
            expect(await get(p, 'a-long-enough-admin-token-0123')).toBe(200);
            expect(await get(p, 'wrong-token-wrong-token-000000')).toBe(401);
          }
        }
        if (withToken) expect(await get('/api/overview?token=a-long-enough-admin-token-0123')).toBe(200);
        expect(agent.proc.lines.some((l) => JSON.stringify(l).includes('a-long-enough-admin-token'))).toBe(
          false,
        );
      } finally {
        await agent.stop();
      }
    }
  }, 60_000);
});
