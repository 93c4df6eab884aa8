import type { ResourceAttributes } from './authorizer.js';
import type { ResourceKind } from './resources.js';

/** What a resource URL names. */
export interface Target {
  r: ResourceKind;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const VERBS: Record<string, [named: string, collection: string]> = {
  GET: ['get', 'list'],
  POST: ['create', 'create'],
  PUT: ['update', 'update'],
  PATCH: ['patch', 'patch'],
  DELETE: ['delete', 'deletecollection'],
};

/**
 * The verb and object a request acts on, as the API server's RequestInfo resolves them: a GET of a
 * collection with watch=true is a watch, and a list or watch with fieldSelector metadata.name=X names
 * X, so that a rule limited by resourceNames can allow it.
 */
export function attributesOf(method: string, t: Target, q: URLSearchParams): ResourceAttributes {
  const pair = VERBS[method];
  let verb = pair === undefined ? method.toLowerCase() : t.name !== undefined ? pair[0] : pair[1];
  if (verb === 'list' && (q.get('watch') === 'true' || q.get('watch') === '1')) verb = 'watch';
  let name = t.name;
  if (name === undefined && (verb === 'list' || verb === 'watch')) {
    const m = /(?:^|,)metadata\.name==?([^,]+)/.exec(q.get('fieldSelector') ?? '');
    if (m !== null) name = m[1];
  }
  return {
    verb,
    group: t.r.group,
    resource: t.r.plural,
    ...(t.subresource === undefined ? {} : { subresource: t.subresource }),
    ...(t.namespace === undefined ? {} : { namespace: t.namespace }),
    ...(name === undefined ? {} : { name }),
  };
}
