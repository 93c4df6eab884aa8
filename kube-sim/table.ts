import type { KubeObject, ResourceKind } from './resources.js';

/** meta.k8s.io/v1 Table, what `kubectl get` asks for: the kind's columns, one row per object. */
export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept);
}

export function age(timestamp: unknown, now = Date.now()): string {
  if (typeof timestamp !== 'string') return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 === 0 ? '' : `${s % 60}s`}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

function partial(obj: KubeObject): Record<string, unknown> {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function tableOf(
  r: ResourceKind,
  objects: KubeObject[],
  resourceVersion: string,
  includeObject: string | null,
): Record<string, unknown> {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: [
      {
        name: 'Name',
        type: 'string',
        format: 'name',
        description: 'Name must be unique within a namespace.',
        priority: 0,
      },
      ...r.columns.map((c) => ({
        name: c.name,
        type: c.type === 'date' ? 'string' : c.type,
        format: '',
        description: c.name,
        priority: c.priority ?? 0,
      })),
    ],
    rows: objects.map((o) => rowOf(r, o, includeObject)),
  };
}

export function rowOf(r: ResourceKind, o: KubeObject, includeObject: string | null): Record<string, unknown> {
  const cells: unknown[] = [o.metadata?.name];
  for (const c of r.columns) {
    const v = c.value(o);
    cells.push(c.type === 'date' ? age(v) : (v ?? ''));
  }
  return {
    cells,
    object: includeObject === 'Object' ? o : includeObject === 'None' ? undefined : partial(o),
  };
}
