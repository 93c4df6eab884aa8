import type { KubeObject, ResourceKind, TableColumn } from './resources.js';

/**
 * The kinds RBAC needs: ServiceAccounts to name subjects, and the four rbac.authorization.k8s.io
 * kinds that kube-sim's authorizer reads when it enforces (--authorization-mode RBAC). Kept apart
 * from resources.ts because they matter only to authorization.
 */
const age: TableColumn = { name: 'Age', type: 'date', value: (o) => o.metadata?.creationTimestamp };

function roleRefColumn(o: KubeObject): string {
  const ref = o.roleRef as { kind?: string; name?: string } | undefined;
  return `${ref?.kind ?? ''}/${ref?.name ?? ''}`;
}

function rbacKind(kind: string, plural: string, namespaced: boolean, model: string): ResourceKind {
  const binding = kind.endsWith('Binding');
  return {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    model,
    statusSubresource: false,
    hasSpec: false,
    mergeKeys: {},
    columns: binding ? [{ name: 'Role', type: 'string', value: roleRefColumn }, age] : [age],
    validate: binding
      ? (o) =>
          typeof (o.roleRef as { name?: unknown } | undefined)?.name === 'string'
            ? []
            : [{ field: 'roleRef.name', type: 'FieldValueRequired', message: 'Required value' }]
      : undefined,
  };
}

export const RBAC_RESOURCES: ResourceKind[] = [
  {
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    namespaced: true,
    shortNames: ['sa'],
    model: 'V1ServiceAccount',
    statusSubresource: false,
    hasSpec: false,
    mergeKeys: {},
    columns: [age],
  },
  rbacKind('Role', 'roles', true, 'V1Role'),
  rbacKind('ClusterRole', 'clusterroles', false, 'V1ClusterRole'),
  rbacKind('RoleBinding', 'rolebindings', true, 'V1RoleBinding'),
  rbacKind('ClusterRoleBinding', 'clusterrolebindings', false, 'V1ClusterRoleBinding'),
];
