import type { KubeObject } from './resources.js';
import type { Store } from './store.js';

/**
 * RBAC as the API server evaluates it (plugin/pkg/auth/authorizer/rbac): ClusterRoleBindings grant
 * their ClusterRole everywhere; RoleBindings grant a Role or ClusterRole in their own namespace only.
 * A rule matches on verb, API group, resource ("*", "name", "name/sub" or "* /sub") and, when it lists
 * resourceNames, the requested name (so list, watch and create never match such a rule). Members of
 * system:masters are allowed everything, as in Kubernetes. Read from the store at every request: a
 * change to a Role or binding takes effect at once, as in a real cluster.
 */
export interface UserInfo {
  name: string;
  groups: string[];
}

export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface Decision {
  allowed: boolean;
  /** for an allow, the binding and role that granted it; for a denial, the API server's message */
  reason: string;
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

export const MASTERS = 'system:masters';

function ruleMatches(rule: PolicyRule, a: ResourceAttributes): boolean {
  const verbs = rule.verbs ?? [];
  if (!verbs.includes('*') && !verbs.includes(a.verb)) return false;
  const groups = rule.apiGroups ?? [];
  if (!groups.includes('*') && !groups.includes(a.group)) return false;
  const combined = a.subresource === undefined ? a.resource : `${a.resource}/${a.subresource}`;
  const resourceOk = (rule.resources ?? []).some(
    (r) => r === '*' || r === combined || (a.subresource !== undefined && r === `*/${a.subresource}`),
  );
  if (!resourceOk) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (a.name !== undefined && names.includes(a.name));
}

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  switch (s.kind) {
    case 'User':
      return s.name === user.name;
    case 'Group':
      return s.name !== undefined && user.groups.includes(s.name);
    case 'ServiceAccount':
      return user.name === `system:serviceaccount:${s.namespace ?? bindingNamespace ?? ''}:${s.name ?? ''}`;
    default:
      return false;
  }
}

function describe(a: ResourceAttributes, user: UserInfo): string {
  const what =
    a.name === undefined
      ? a.group === ''
        ? a.resource
        : `${a.resource}.${a.group}`
      : `${a.group === '' ? a.resource : `${a.resource}.${a.group}`} "${a.name}"`;
  const resource = a.subresource === undefined ? a.resource : `${a.resource}/${a.subresource}`;
  const scope = a.namespace === undefined ? 'at the cluster scope' : `in the namespace "${a.namespace}"`;
  return `${what} is forbidden: User "${user.name}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`;
}

export class Authorizer {
  constructor(private readonly store: Store) {}

  private objects(key: string): Iterable<KubeObject> {
    return this.store.table(key).values();
  }

  private rulesOf(ref: { kind?: string; name?: string }, namespace: string | undefined): PolicyRule[] {
    const name = ref.name ?? '';
    const obj =
      ref.kind === 'ClusterRole'
        ? this.store.table('clusterroles.rbac.authorization.k8s.io').get(name)
        : ref.kind === 'Role' && namespace !== undefined
          ? this.store.table('roles.rbac.authorization.k8s.io').get(`${namespace}/${name}`)
          : undefined;
    return (obj?.rules as PolicyRule[] | undefined) ?? [];
  }

  authorize(user: UserInfo, a: ResourceAttributes): Decision {
    if (user.groups.includes(MASTERS)) return { allowed: true, reason: `group ${MASTERS}` };
    for (const b of this.objects('clusterrolebindings.rbac.authorization.k8s.io')) {
      if (!((b.subjects as Subject[] | undefined) ?? []).some((s) => subjectMatches(s, user, undefined)))
        continue;
      const ref = (b.roleRef ?? {}) as { kind?: string; name?: string };
      if (ref.kind !== 'ClusterRole') continue;
      if (this.rulesOf(ref, undefined).some((r) => ruleMatches(r, a)))
        return {
          allowed: true,
          reason: `ClusterRoleBinding ${b.metadata?.name ?? ''} of ClusterRole ${ref.name ?? ''}`,
        };
    }
    if (a.namespace !== undefined) {
      for (const b of this.objects('rolebindings.rbac.authorization.k8s.io')) {
        const ns = b.metadata?.namespace;
        if (ns !== a.namespace) continue;
        if (!((b.subjects as Subject[] | undefined) ?? []).some((s) => subjectMatches(s, user, ns))) continue;
        const ref = (b.roleRef ?? {}) as { kind?: string; name?: string };
        if (this.rulesOf(ref, ns).some((r) => ruleMatches(r, a)))
          return {
            allowed: true,
            reason: `RoleBinding ${ns}/${b.metadata?.name ?? ''} of ${ref.kind ?? ''} ${ref.name ?? ''}`,
          };
      }
    }
    return { allowed: false, reason: describe(a, user) };
  }
}
