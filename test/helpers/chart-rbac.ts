import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './processes.js';

/**
 * The chart's RBAC as the suite's agents run with it. Every kube-sim a test starts enforces RBAC; the
 * agent's token belongs to the chart's ServiceAccount, bound to exactly what `helm template` renders
 * (templates/rbac.yaml, installed in namespace default). kube-sim writes an audit log per process to
 * test-results/audit; test/check-rbac.ts reads them all after the suite.
 */
export const HELM = path.join(ROOT, '.tools/bin/helm');
export const CHART = path.join(ROOT, 'charts/tunnel-ingress');
export const AUDIT_DIR = path.join(ROOT, 'test-results', 'audit');
export const CHART_NAMESPACE = 'default';
export const AGENT_USER = `system:serviceaccount:${CHART_NAMESPACE}:tunnel-ingress`;
/** The chart's ServiceAccount in any namespace: each test on the shared API server has its own. */
export const isAgentUser = (username: string): boolean =>
  /^system:serviceaccount:[^:]+:tunnel-ingress$/.test(username);

const EDGES = 'tunnel.edges={edge.example:7844}';
export const IMAGE = 'image.repository=registry.example/tunnel-ingress';
/** Value sets whose RBAC differs: credentials from a Secret, and --tunnel-name with the API. */
export const RBAC_VALUES = {
  base: ['tunnel.credentialsSecret=creds', EDGES, IMAGE],
  tunnelName: [
    EDGES,
    IMAGE,
    'cloudflare.apiTokenSecret=cf-api',
    'cloudflare.accountId=0123456789abcdef0123456789abcdef',
    'cloudflare.tunnelName=t',
  ],
} as const;
export type RbacValues = keyof typeof RBAC_VALUES;

export interface RbacObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>;
  [k: string]: unknown;
}

/** `helm template` of the chart: every object it renders (or only those of the `only` templates). */
export function helmTemplate<T>(
  release: string,
  namespace: string,
  sets: readonly string[],
  only: string[] = [],
): T[] {
  const out = execFileSync(HELM, [
    'template',
    release,
    CHART,
    '--namespace',
    namespace,
    ...sets.flatMap((s) => ['--set', s]),
    ...only.flatMap((t) => ['--show-only', t]),
  ]).toString();
  return parseAllDocuments(out)
    .map((d) => d.toJSON() as T | null)
    .filter((o): o is T => o !== null);
}

const cache = new Map<RbacValues, RbacObject[]>();

/** The ServiceAccount, Roles and bindings the chart renders for a value set. */
export function chartRbac(values: RbacValues): RbacObject[] {
  let objs = cache.get(values);
  if (objs === undefined) {
    objs = helmTemplate<RbacObject>('tunnel-ingress', CHART_NAMESPACE, RBAC_VALUES[values], [
      'templates/rbac.yaml',
      'templates/serviceaccount.yaml',
    ]);
    cache.set(values, objs);
  }
  return objs;
}

/** The same, rendered for a release in another namespace (a test's own on the shared API server). */
export function chartRbacIn(values: RbacValues, namespace: string): RbacObject[] {
  return helmTemplate<RbacObject>('tunnel-ingress', namespace, RBAC_VALUES[values], [
    'templates/rbac.yaml',
    'templates/serviceaccount.yaml',
  ]);
}

/** Where the chart's RBAC object is created: its collection, in `namespace` unless cluster-scoped. */
export function collectionOf(o: RbacObject, namespace: string): string {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  const plural = `${o.kind.toLowerCase()}s`;
  return o.kind.startsWith('Cluster') ? `${base}/${plural}` : `${base}/namespaces/${namespace}/${plural}`;
}

/** group|resource[/subresource]|verb for every permission the chart grants with these values. */
export function grantedPermissions(values: RbacValues): Set<string> {
  const granted = new Set<string>();
  for (const o of chartRbac(values))
    for (const r of o.rules ?? [])
      for (const g of r.apiGroups)
        for (const res of r.resources) for (const v of r.verbs) granted.add(`${g}|${res}|${v}`);
  return granted;
}

export function resetAudit(): void {
  rmSync(AUDIT_DIR, { recursive: true, force: true });
  mkdirSync(AUDIT_DIR, { recursive: true });
}

export interface AuditEvent {
  verb: string;
  requestURI?: string;
  user: { username: string };
  /** absent for non-resource requests (/version, discovery); apiGroup absent for the core group */
  objectRef?: {
    resource: string;
    subresource?: string;
    apiGroup?: string;
    namespace?: string;
    name?: string;
  };
  responseStatus: { code: number };
  annotations: Record<string, string>;
  /** the audit log it came from (one per API server) */
  file?: string;
}

/** Every audit event of every kube-sim the suite ran. */
export function readAuditLogs(): { files: number; events: AuditEvent[] } {
  let names: string[] = [];
  try {
    names = readdirSync(AUDIT_DIR).filter((n) => n.endsWith('.jsonl'));
  } catch {
    return { files: 0, events: [] };
  }
  const events: AuditEvent[] = [];
  for (const n of names)
    for (const line of readFileSync(path.join(AUDIT_DIR, n), 'utf8').split('\n'))
      if (line !== '') events.push({ ...(JSON.parse(line) as AuditEvent), file: n });
  return { files: names.length, events };
}

export function permissionOf(e: AuditEvent): string {
  const r = e.objectRef;
  if (r === undefined) return `nonResource|${e.requestURI ?? ''}|${e.verb}`;
  return `${r.apiGroup ?? ''}|${r.resource}${r.subresource === undefined ? '' : '/' + r.subresource}|${e.verb}`;
}
