import { apiVersionOf, type ResourceKind } from './resources.js';

/**
 * Legacy discovery documents (APIVersions, APIGroupList, APIGroup, APIResourceList). kubectl asks for
 * aggregated discovery first and falls back to these when the answer is plain JSON.
 */
const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function versionInfo(): Record<string, string> {
  return {
    major: '1',
    minor: '33',
    gitVersion: 'v1.33.0-kube-sim',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'n/a',
    compiler: 'kube-sim',
    platform: `${process.platform}/${process.arch}`,
  };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groups(resources: ResourceKind[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of resources) {
    if (r.group === '') continue;
    const versions = out.get(r.group) ?? [];
    if (!versions.includes(r.version)) versions.push(r.version);
    out.set(r.group, versions);
  }
  return out;
}

function groupDoc(name: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(resources: ResourceKind[]): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups(resources)].map(([name, versions]) => groupDoc(name, versions)),
  };
}

export function apiGroup(resources: ResourceKind[], group: string): Record<string, unknown> | null {
  const versions = groups(resources).get(group);
  return versions === undefined ? null : groupDoc(group, versions);
}

export function apiResourceList(
  resources: ResourceKind[],
  group: string,
  version: string,
): Record<string, unknown> | null {
  const kinds = resources.filter((r) => r.group === group && r.version === version);
  if (kinds.length === 0) return null;
  const list: Array<Record<string, unknown>> = [];
  for (const r of kinds) {
    list.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.kind === 'Namespace' ? VERBS.filter((v) => v !== 'deletecollection') : VERBS,
      ...(r.shortNames === undefined ? {} : { shortNames: r.shortNames }),
      storageVersionHash: Buffer.from(`${r.group}/${r.version}/${r.kind}`).toString('base64').slice(0, 11),
    });
    if (r.statusSubresource) {
      list.push({
        name: `${r.plural}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: apiVersionOf(kinds[0] as ResourceKind),
    resources: list,
  };
}
