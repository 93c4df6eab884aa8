import { describe, expect, it } from 'vitest';
import { ApplyConflict, recordUpdate, serverSideApply } from './apply.js';
import type { ListSemantics } from './patch.js';
import type { KubeObject } from './resources.js';

const sem: ListSemantics = {
  mergeKeys: { 'spec.ports': ['port', 'protocol'] },
  setLists: new Set(['metadata.finalizers']),
};

const svc = (
  ports: Array<{ port: number; targetPort?: number }>,
  labels: Record<string, string> = {},
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 's', namespace: 'default', labels },
  spec: { ports: ports.map((p) => ({ protocol: 'TCP', ...p })) },
});

describe('server-side apply', () => {
  it('creates, then merges keyed lists and removes what the manager stopped applying', () => {
    const first = serverSideApply(
      undefined,
      svc([{ port: 80 }, { port: 443 }], { a: '1', b: '2' }),
      'alice',
      false,
      sem,
      'v1',
    );
    expect(first.metadata?.managedFields).toHaveLength(1);
    const second = serverSideApply(
      first,
      svc([{ port: 80, targetPort: 8080 }], { a: '1' }),
      'alice',
      false,
      sem,
      'v1',
    );
    expect(second.spec).toEqual({ ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] });
    expect(second.metadata?.labels).toEqual({ a: '1' });
  });

  it("keeps fields another manager owns and merges two managers' list elements", () => {
    const a = serverSideApply(undefined, svc([{ port: 80 }], { a: '1' }), 'alice', false, sem, 'v1');
    const b = serverSideApply(a, svc([{ port: 9000 }], { b: '2' }), 'bob', false, sem, 'v1');
    expect((b.spec as { ports: unknown[] }).ports).toHaveLength(2);
    expect(b.metadata?.labels).toEqual({ a: '1', b: '2' });
    // alice stops applying her label and port; bob's stay
    const c = serverSideApply(
      b,
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default' } },
      'alice',
      false,
      sem,
      'v1',
    );
    expect(c.metadata?.labels).toEqual({ b: '2' });
    expect((c.spec as { ports: Array<{ port: number }> }).ports.map((p) => p.port)).toEqual([9000]);
  });

  it('conflicts on a field another manager set to another value, unless forced', () => {
    const a = serverSideApply(undefined, svc([], { a: '1' }), 'alice', false, sem, 'v1');
    expect(() => serverSideApply(a, svc([], { a: '2' }), 'bob', false, sem, 'v1')).toThrow(ApplyConflict);
    expect(() => serverSideApply(a, svc([], { a: '2' }), 'bob', false, sem, 'v1')).toThrow(
      /conflict with "alice": \.metadata\.labels\.a/,
    );
    // the same value is shared ownership, not a conflict
    expect(() => serverSideApply(a, svc([], { a: '1' }), 'bob', false, sem, 'v1')).not.toThrow();
    const forced = serverSideApply(a, svc([], { a: '2' }), 'bob', true, sem, 'v1');
    expect(forced.metadata?.labels).toEqual({ a: '2' });
    // alice lost the field, so her next apply without it does not remove bob's value
    const after = serverSideApply(
      forced,
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default' } },
      'alice',
      false,
      sem,
      'v1',
    );
    expect(after.metadata?.labels).toEqual({ a: '2' });
  });

  it('takes fields from their owner when an update changes them', () => {
    const a = serverSideApply(undefined, svc([], { a: '1' }), 'alice', false, sem, 'v1');
    const edited = structuredClone(a);
    (edited.metadata as { labels: Record<string, string> }).labels.a = 'edited';
    recordUpdate(a, edited, 'kubectl-edit', sem, 'v1');
    const managers = (edited.metadata?.managedFields as Array<{ manager: string }>).map((m) => m.manager);
    expect(managers).toContain('kubectl-edit');
    expect(() => serverSideApply(edited, svc([], { a: '3' }), 'alice', false, sem, 'v1')).toThrow(
      /kubectl-edit/,
    );
  });
});

describe('server-side apply with defaulted key fields', () => {
  const semD: ListSemantics = { ...sem, keyDefaults: { 'spec.ports': { protocol: 'TCP' } } };
  it('matches an element that leaves a key field to its default', () => {
    // live as stored: the server defaulted protocol after kubectl applied an element without it
    const first: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's', namespace: 'default' },
      spec: { ports: [{ port: 80, targetPort: 8080 }] },
    };
    const live = serverSideApply(undefined, first, 'kubectl', false, semD, 'v1');
    (live.spec as { ports: Array<Record<string, unknown>> }).ports[0]!.protocol = 'TCP';
    const applied: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's', namespace: 'default' },
      spec: { ports: [{ port: 80, targetPort: 9999 }] },
    };
    expect(() => serverSideApply(live, applied, 'other', false, semD, 'v1')).toThrow(
      /conflict with "kubectl": \.spec\.ports\[\]\.targetPort/,
    );
    const mine = serverSideApply(live, applied, 'kubectl', false, semD, 'v1');
    expect((mine.spec as { ports: unknown[] }).ports).toEqual([
      { port: 80, protocol: 'TCP', targetPort: 9999 },
    ]);
  });

  it('lets a second manager apply another key when metadata carries only the name (no false conflict)', () => {
    const cm = (data: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'default' },
      data,
    });
    const a = serverSideApply(undefined, cm({ a: '1' }), 'alice', false, sem, 'v1');
    expect((a.metadata?.managedFields?.[0] as { fieldsV1?: unknown } | undefined)?.fieldsV1).toEqual({
      'f:data': { 'f:a': {} },
    });
    const b = serverSideApply(a, cm({ b: '2' }), 'bob', false, sem, 'v1');
    expect(b.data).toEqual({ a: '1', b: '2' });
    expect(() => serverSideApply(b, cm({ a: 'bob' }), 'bob', false, sem, 'v1')).toThrow(ApplyConflict);
  });
});
