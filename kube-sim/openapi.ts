import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { ResourceKind } from './resources.js';

/**
 * OpenAPI v3 documents for the served group-versions, derived from @kubernetes/client-node's models:
 * those are generated from Kubernetes' own OpenAPI document, and each carries its field map (name,
 * JSON name, type). kubectl reads these documents to learn that the server validates fields itself
 * (the `fieldValidation` parameter on PATCH); kube-sim uses the same schemas for strict validation.
 */
interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

type ModelClass = { attributeTypeMap?: Attribute[] };
const models = k8s as unknown as Record<string, ModelClass | undefined>;

export function modelAttributes(model: string): Attribute[] | undefined {
  return models[model]?.attributeTypeMap;
}

export type FieldType =
  | { kind: 'model'; model: string }
  | { kind: 'array'; items: FieldType }
  | { kind: 'map'; values: FieldType }
  | { kind: 'scalar'; type: 'string' | 'number' | 'boolean' | 'date' | 'int-or-string' }
  | { kind: 'any' };

export function parseType(t: string): FieldType {
  const arr = /^Array<(.+)>$/.exec(t);
  if (arr !== null) return { kind: 'array', items: parseType(arr[1] as string) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(t);
  if (map !== null) return { kind: 'map', values: parseType(map[1] as string) };
  switch (t) {
    case 'string':
      return { kind: 'scalar', type: 'string' };
    case 'number':
      return { kind: 'scalar', type: 'number' };
    case 'boolean':
      return { kind: 'scalar', type: 'boolean' };
    case 'Date':
      return { kind: 'scalar', type: 'date' };
    case 'IntOrString':
      return { kind: 'scalar', type: 'int-or-string' };
    case 'any':
      return { kind: 'any' };
    default:
      return models[t]?.attributeTypeMap !== undefined ? { kind: 'model', model: t } : { kind: 'any' };
  }
}

function schemaOf(t: FieldType, refs: Set<string>): Record<string, unknown> {
  switch (t.kind) {
    case 'model':
      refs.add(t.model);
      return { allOf: [{ $ref: `#/components/schemas/${t.model}` }] };
    case 'array':
      return { type: 'array', items: schemaOf(t.items, refs) };
    case 'map':
      return { type: 'object', additionalProperties: schemaOf(t.values, refs) };
    case 'any':
      return { 'x-kubernetes-preserve-unknown-fields': true };
    case 'scalar':
      switch (t.type) {
        case 'date':
          return { type: 'string', format: 'date-time' };
        case 'int-or-string':
          return { 'x-kubernetes-int-or-string': true };
        default:
          return { type: t.type === 'number' ? 'number' : t.type };
      }
  }
}

function modelSchema(model: string, refs: Set<string>, gvk?: ResourceKind): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const a of modelAttributes(model) ?? []) properties[a.baseName] = schemaOf(parseType(a.type), refs);
  return {
    type: 'object',
    properties,
    ...(gvk === undefined
      ? {}
      : { 'x-kubernetes-group-version-kind': [{ group: gvk.group, version: gvk.version, kind: gvk.kind }] }),
  };
}

const QUERY = (name: string, description: string) => ({
  name,
  in: 'query',
  description,
  schema: { type: 'string', uniqueItems: true },
});
const WRITE_PARAMS = [
  QUERY('dryRun', 'When present, indicates that modifications should not be persisted.'),
  QUERY('fieldManager', 'A name associated with the actor or entity that is making these changes.'),
  QUERY('fieldValidation', 'Ignore, Warn or Strict: how to treat unknown or duplicate fields.'),
];

function operations(
  r: ResourceKind,
  scope: 'item' | 'collection',
  refs: Set<string>,
): Record<string, unknown> {
  const gvk = { group: r.group, version: r.version, kind: r.kind };
  const body = { content: { 'application/json': { schema: { $ref: `#/components/schemas/${r.model}` } } } };
  refs.add(r.model);
  const op = (action: string, extra: Record<string, unknown> = {}) => ({
    operationId: `${action}${r.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    responses: { '200': body },
    ...extra,
  });
  if (scope === 'collection') {
    return { get: op('list'), post: op('post', { requestBody: body, parameters: WRITE_PARAMS }) };
  }
  return {
    get: op('get'),
    put: op('put', { requestBody: body, parameters: WRITE_PARAMS }),
    patch: op('patch', {
      requestBody: body,
      parameters: [...WRITE_PARAMS, QUERY('force', 'Force is going to "force" Apply requests.')],
    }),
    delete: op('delete', { parameters: [QUERY('dryRun', '')] }),
  };
}

export function groupVersionPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

/** The OpenAPI v3 document of one group-version. */
export function groupVersionDoc(
  group: string,
  version: string,
  kinds: ResourceKind[],
): Record<string, unknown> {
  const refs = new Set<string>();
  const paths: Record<string, unknown> = {};
  for (const r of kinds) {
    const base = `/${groupVersionPath(group, version)}`;
    const coll = r.namespaced ? `${base}/namespaces/{namespace}/${r.plural}` : `${base}/${r.plural}`;
    paths[coll] = operations(r, 'collection', refs);
    paths[`${coll}/{name}`] = operations(r, 'item', refs);
    if (r.statusSubresource) paths[`${coll}/{name}/status`] = operations(r, 'item', refs);
  }
  const schemas: Record<string, unknown> = {};
  const byModel = new Map(kinds.map((k) => [k.model, k]));
  const queue = [...refs];
  while (queue.length > 0) {
    const m = queue.pop() as string;
    if (schemas[m] !== undefined) continue;
    const more = new Set<string>();
    schemas[m] = modelSchema(m, more, byModel.get(m));
    for (const x of more) if (schemas[x] === undefined) queue.push(x);
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (kube-sim)', version: 'v1.33.0' },
    paths,
    components: { schemas },
  };
}

export interface OpenApiIndex {
  index: Record<string, unknown>;
  docs: Map<string, { body: string; hash: string }>;
}

/** Every group-version's document, serialized once, and the /openapi/v3 index pointing at them. */
export function buildOpenApi(resources: ResourceKind[]): OpenApiIndex {
  const byGv = new Map<string, ResourceKind[]>();
  for (const r of resources) {
    const gv = groupVersionPath(r.group, r.version);
    byGv.set(gv, [...(byGv.get(gv) ?? []), r]);
  }
  const docs = new Map<string, { body: string; hash: string }>();
  const paths: Record<string, unknown> = {};
  for (const [gv, kinds] of byGv) {
    const first = kinds[0] as ResourceKind;
    const body = JSON.stringify(groupVersionDoc(first.group, first.version, kinds));
    const hash = createHash('sha512').update(body).digest('hex').slice(0, 32).toUpperCase();
    docs.set(gv, { body, hash });
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` };
  }
  return { index: { paths }, docs };
}
