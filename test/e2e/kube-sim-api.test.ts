import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeSim, type KubeSimProc } from '../helpers/kube.js';

/** The API server semantics kube-sim promises, checked over HTTPS as any client would see them. */
describe('kube-sim API semantics', () => {
  let k: KubeSimProc;
  const ING = '/apis/networking.k8s.io/v1/namespaces/default/ingresses';
  const CM = '/api/v1/namespaces/default/configmaps';
  const ingress = (name: string, host = 'a.test') => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, labels: { app: name, tier: 'web' } },
    spec: {
      rules: [
        {
          host,
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } },
            ],
          },
        },
      ],
    },
  });

  beforeAll(async () => {
    k = await startKubeSim(['--bookmark-interval', '200', '--history', '50']);
  }, 30_000);
  afterAll(async () => k?.stop());

  it('refuses requests without the bearer token', async () => {
    const res = await request(`${k.url}/api/v1/namespaces`, { dispatcher: k.dispatcher });
    expect(res.statusCode).toBe(401);
    expect(await res.body.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
  });

  it('keeps uid, creationTimestamp and one monotonic resourceVersion; generation counts spec changes only', async () => {
    const created = await k.api('POST', ING, ingress('gen'));
    expect(created.status).toBe(201);
    const m = created.body.metadata;
    expect(m.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(m.generation).toBe(1);
    const rv1 = Number(m.resourceVersion);
    const labelled = await k.api(
      'PATCH',
      `${ING}/gen`,
      { metadata: { labels: { x: '1' } } },
      'application/merge-patch+json',
    );
    expect(labelled.body.metadata.generation).toBe(1);
    expect(Number(labelled.body.metadata.resourceVersion)).toBeGreaterThan(rv1);
    const specced = await k.api(
      'PATCH',
      `${ING}/gen`,
      { spec: { ingressClassName: 'c' } },
      'application/merge-patch+json',
    );
    expect(specced.body.metadata.generation).toBe(2);
    expect(specced.body.metadata.uid).toBe(m.uid);
    expect(specced.body.metadata.creationTimestamp).toBe(m.creationTimestamp);
  });

  it('answers 409 Conflict for a stale resourceVersion', async () => {
    const { body } = await k.api('POST', ING, ingress('conflict'));
    const stale = { ...body, spec: { ...body.spec, ingressClassName: 'x' } };
    expect((await k.api('PUT', `${ING}/conflict`, stale)).status).toBe(200);
    const again = await k.api('PUT', `${ING}/conflict`, stale);
    expect(again.status).toBe(409);
    expect(again.body.reason).toBe('Conflict');
  });

  it('splits status: the main endpoint ignores it, /status changes only it', async () => {
    await k.api('POST', ING, ingress('st'));
    const lb = { loadBalancer: { ingress: [{ hostname: 'x.cfargotunnel.com' }] } };
    const viaMain = await k.api('PATCH', `${ING}/st`, { status: lb }, 'application/merge-patch+json');
    expect(viaMain.body.status ?? {}).not.toMatchObject(lb);
    const cur = (await k.api('GET', `${ING}/st`)).body;
    const viaStatus = await k.api('PUT', `${ING}/st/status`, { ...cur, status: lb, spec: { rules: [] } });
    expect(viaStatus.body.status).toEqual(lb);
    expect(viaStatus.body.spec.rules).toHaveLength(1);
    expect(viaStatus.body.metadata.generation).toBe(1);
  });

  it('applies json-patch, merge-patch and strategic-merge-patch', async () => {
    await k.api('POST', CM, { metadata: { name: 'p', finalizers: [] }, data: { a: '1' } });
    const jp = await k.api(
      'PATCH',
      `${CM}/p`,
      [
        { op: 'add', path: '/data/b', value: '2' },
        { op: 'test', path: '/data/a', value: '1' },
      ],
      'application/json-patch+json',
    );
    expect(jp.body.data).toEqual({ a: '1', b: '2' });
    const failed = await k.api(
      'PATCH',
      `${CM}/p`,
      [{ op: 'test', path: '/data/a', value: 'nope' }],
      'application/json-patch+json',
    );
    expect(failed.status).toBe(422);
    const mp = await k.api('PATCH', `${CM}/p`, { data: { a: null } }, 'application/merge-patch+json');
    expect(mp.body.data).toEqual({ b: '2' });
    const svc = await k.api('POST', '/api/v1/namespaces/default/services', {
      metadata: { name: 'smp' },
      spec: { ports: [{ port: 80 }, { port: 443 }] },
    });
    expect(svc.status).toBe(201);
    const smp = await k.api(
      'PATCH',
      '/api/v1/namespaces/default/services/smp',
      { spec: { ports: [{ port: 80, targetPort: 8080 }] } },
      'application/strategic-merge-patch+json',
    );
    expect(smp.body.spec.ports).toEqual([
      { port: 80, protocol: 'TCP', targetPort: 8080 },
      { port: 443, protocol: 'TCP', targetPort: 443 },
    ]);
  });

  it('does server-side apply with field ownership and conflicts', async () => {
    const yaml = (cls: string) =>
      `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ssa\nspec:\n  ingressClassName: ${cls}\n`;
    const first = await k.api(
      'PATCH',
      `${ING}/ssa?fieldManager=alice`,
      yaml('one'),
      'application/apply-patch+yaml',
    );
    expect(first.status).toBe(201);
    expect(first.body.metadata.managedFields[0]).toMatchObject({ manager: 'alice', operation: 'Apply' });
    const clash = await k.api(
      'PATCH',
      `${ING}/ssa?fieldManager=bob`,
      yaml('two'),
      'application/apply-patch+yaml',
    );
    expect(clash.status).toBe(409);
    expect(clash.body.message).toContain('conflict with "alice"');
    const forced = await k.api(
      'PATCH',
      `${ING}/ssa?fieldManager=bob&force=true`,
      yaml('two'),
      'application/apply-patch+yaml',
    );
    expect(forced.body.spec.ingressClassName).toBe('two');
    const noManager = await k.api('PATCH', `${ING}/ssa`, yaml('x'), 'application/apply-patch+yaml');
    expect(noManager.status).toBe(400);
  });

  it('lists with label and field selectors, and pages with limit/continue', async () => {
    for (const n of ['l1', 'l2', 'l3'])
      await k.api('POST', CM, { metadata: { name: n, labels: { set: 'paged', n } } });
    const sel = await k.api('GET', `${CM}?labelSelector=${encodeURIComponent('set=paged,n in (l1,l3)')}`);
    expect(sel.body.items.map((i: any) => i.metadata.name)).toEqual(['l1', 'l3']);
    const field = await k.api('GET', `/api/v1/configmaps?fieldSelector=metadata.name=l2`);
    expect(field.body.items.map((i: any) => i.metadata.name)).toEqual(['l2']);
    const page1 = await k.api('GET', `${CM}?labelSelector=set%3Dpaged&limit=2`);
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.metadata.remainingItemCount).toBe(1);
    const page2 = await k.api(
      'GET',
      `${CM}?labelSelector=set%3Dpaged&limit=2&continue=${page1.body.metadata.continue}`,
    );
    expect(page2.body.items.map((i: any) => i.metadata.name)).toEqual(['l3']);
    expect(page2.body.metadata.continue).toBeUndefined();
  });

  it('keeps objects with finalizers until the finalizers are gone', async () => {
    await k.api('POST', CM, { metadata: { name: 'fin', finalizers: ['example.com/hold'] } });
    const del = await k.api('DELETE', `${CM}/fin`);
    expect(del.body.metadata.deletionTimestamp).toBeDefined();
    expect((await k.api('GET', `${CM}/fin`)).status).toBe(200);
    await k.api(
      'PATCH',
      `${CM}/fin`,
      [{ op: 'remove', path: '/metadata/finalizers' }],
      'application/json-patch+json',
    );
    expect((await k.api('GET', `${CM}/fin`)).status).toBe(404);
  });

  it('watches from a resourceVersion, sends bookmarks, ends after timeoutSeconds, and answers 410 when too old', async () => {
    const start = (await k.api('GET', CM)).body.metadata.resourceVersion;
    await k.api('POST', CM, { metadata: { name: 'w1' } });
    const res = await request(
      `${k.url}${CM}?watch=true&resourceVersion=${start}&allowWatchBookmarks=true&timeoutSeconds=3`,
      {
        dispatcher: k.dispatcher,
        headers: { authorization: `Bearer ${k.token}` },
      },
    );
    setTimeout(() => void k.api('DELETE', `${CM}/w1`), 100);
    const events = (await res.body.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; object: any });
    expect(events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'w1' } } });
    expect(events.some((e) => e.type === 'DELETED' && e.object.metadata.name === 'w1')).toBe(true);
    expect(events.some((e) => e.type === 'BOOKMARK')).toBe(true);
    // History holds 50 events: push it past the start and ask again.
    for (let i = 0; i < 60; i++)
      await k.api('PATCH', `${CM}/l1`, { data: { i: String(i) } }, 'application/merge-patch+json');
    const old = await request(`${k.url}${CM}?watch=true&resourceVersion=${start}`, {
      dispatcher: k.dispatcher,
      headers: { authorization: `Bearer ${k.token}` },
    });
    const line = JSON.parse((await old.body.text()).trim()) as { type: string; object: any };
    expect(line).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
  });

  it('turns bad input into Status objects with the right code, never a 500', async () => {
    const cases: Array<[Promise<{ status: number; body: any }>, number, string]> = [
      [k.api('POST', CM, '{"metadata":', 'application/json'), 400, 'BadRequest'],
      [k.api('POST', CM, { metadata: { name: 'Not_Valid' } }), 422, 'Invalid'],
      [
        k.api('POST', ING, {
          metadata: { name: 'nopt' },
          spec: {
            rules: [
              { http: { paths: [{ path: '/', backend: { service: { name: 's', port: { number: 1 } } } }] } },
            ],
          },
        }),
        422,
        'Invalid',
      ],
      [k.api('GET', '/apis/networking.k8s.io/v1/namespaces/default/widgets'), 404, 'NotFound'],
      [k.api('GET', `${CM}/does-not-exist`), 404, 'NotFound'],
      [k.api('PUT', CM, {}), 405, 'MethodNotAllowed'],
      [
        k
          .api('POST', CM, { metadata: { name: 'strict' }, bogus: 1 }, 'application/json')
          .then(() =>
            k.api('POST', `${CM}?fieldValidation=Strict`, { metadata: { name: 'strict2' }, bogus: 1 }),
          ),
        400,
        'BadRequest',
      ],
      [k.api('POST', '/api/v1/namespaces/nowhere/configmaps', { metadata: { name: 'x' } }), 404, 'NotFound'],
      [k.api('POST', CM, { metadata: { name: 'l1' } }), 409, 'AlreadyExists'],
      [k.api('GET', `${CM}?labelSelector=${encodeURIComponent('a b c')}`), 400, 'BadRequest'],
    ];
    for (const [p, code, reason] of cases) {
      const r = await p;
      expect({ status: r.status, kind: r.body?.kind, reason: r.body?.reason }).toEqual({
        status: code,
        kind: 'Status',
        reason,
      });
    }
  });

  it('fault hooks: fail, garble, and compact the history', async () => {
    await k.sim('/_sim/faults', [{ method: 'GET', pathPrefix: CM, status: 503, count: 1 }]);
    expect((await k.api('GET', CM)).status).toBe(503);
    expect((await k.api('GET', CM)).status).toBe(200);
    await k.sim('/_sim/faults', [{ pathPrefix: CM, garbage: true, count: 1 }]);
    expect(typeof (await k.api('GET', CM)).body).toBe('string');
    const rv = (await k.api('GET', CM)).body.metadata.resourceVersion;
    await k.sim('/_sim/compact');
    const res = await request(`${k.url}${CM}?watch=true&resourceVersion=${rv}`, {
      dispatcher: k.dispatcher,
      headers: { authorization: `Bearer ${k.token}` },
    });
    expect(JSON.parse((await res.body.text()).trim())).toMatchObject({
      type: 'ERROR',
      object: { code: 410 },
    });
  });
});
