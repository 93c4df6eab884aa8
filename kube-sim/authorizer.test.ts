import { describe, expect, it } from 'vitest';
import { Authorizer } from './authorizer.js';
import { RBAC_RESOURCES } from './rbac-resources.js';
import type { KubeObject, ResourceKind } from './resources.js';
import { Store } from './store.js';

const kind = (k: string) => RBAC_RESOURCES.find((r) => r.kind === k) as ResourceKind;
const SA = { name: 'system:serviceaccount:ti:agent', groups: ['system:serviceaccounts'] };
const subject = { kind: 'ServiceAccount', name: 'agent', namespace: 'ti' };

function storeWith(objs: Array<[string, KubeObject]>): Store {
  const s = new Store();
  for (const [k, o] of objs) s.put(kind(k), o, 'ADDED');
  return s;
}

describe('RBAC authorizer', () => {
  const store = storeWith([
    [
      'ClusterRole',
      {
        metadata: { name: 'reader' },
        rules: [
          { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['list', 'watch'] },
          { apiGroups: ['networking.k8s.io'], resources: ['ingresses/status'], verbs: ['update'] },
        ],
      },
    ],
    [
      'ClusterRoleBinding',
      { metadata: { name: 'reader' }, roleRef: { kind: 'ClusterRole', name: 'reader' }, subjects: [subject] },
    ],
    [
      'Role',
      {
        metadata: { name: 'lease', namespace: 'ti' },
        rules: [
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'] },
          { apiGroups: [''], resources: ['secrets'], resourceNames: ['creds'], verbs: ['get'] },
        ],
      },
    ],
    [
      'RoleBinding',
      {
        metadata: { name: 'lease', namespace: 'ti' },
        roleRef: { kind: 'Role', name: 'lease' },
        subjects: [{ kind: 'ServiceAccount', name: 'agent' }],
      },
    ],
  ]);
  const authz = new Authorizer(store);
  const ing = { group: 'networking.k8s.io', resource: 'ingresses' };

  it('allows what a ClusterRoleBinding grants, in every namespace and cluster-wide', () => {
    expect(authz.authorize(SA, { ...ing, verb: 'list' }).allowed).toBe(true);
    expect(authz.authorize(SA, { ...ing, verb: 'watch', namespace: 'other' }).allowed).toBe(true);
    expect(
      authz.authorize(SA, { ...ing, verb: 'update', subresource: 'status', namespace: 'a', name: 'x' })
        .allowed,
    ).toBe(true);
  });

  it('does not let a subresource grant the resource, or the resource its subresource', () => {
    expect(authz.authorize(SA, { ...ing, verb: 'update', namespace: 'a', name: 'x' }).allowed).toBe(false);
    expect(authz.authorize(SA, { ...ing, verb: 'list', subresource: 'status' }).allowed).toBe(false);
  });

  it('limits a RoleBinding to its namespace, its subject defaulting to that namespace', () => {
    const lease = { group: 'coordination.k8s.io', resource: 'leases', verb: 'get', name: 'l' };
    expect(authz.authorize(SA, { ...lease, namespace: 'ti' }).allowed).toBe(true);
    expect(authz.authorize(SA, { ...lease, namespace: 'default' }).allowed).toBe(false);
  });

  it('matches resourceNames only for a request that names that object', () => {
    const secret = { group: '', resource: 'secrets', namespace: 'ti' };
    expect(authz.authorize(SA, { ...secret, verb: 'get', name: 'creds' }).allowed).toBe(true);
    expect(authz.authorize(SA, { ...secret, verb: 'get', name: 'other' }).allowed).toBe(false);
    expect(authz.authorize(SA, { ...secret, verb: 'list' }).allowed).toBe(false);
  });

  it("denies others with the API server's message, and allows system:masters", () => {
    const d = authz.authorize({ name: 'bob', groups: [] }, { ...ing, verb: 'list' });
    expect(d).toEqual({
      allowed: false,
      reason:
        'ingresses.networking.k8s.io is forbidden: User "bob" cannot list resource "ingresses" in API group "networking.k8s.io" at the cluster scope',
    });
    expect(
      authz.authorize({ name: 'root', groups: ['system:masters'] }, { ...ing, verb: 'delete' }).allowed,
    ).toBe(true);
  });
});
