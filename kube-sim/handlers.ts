import { randomBytes } from 'node:crypto';
import jsonPatch from 'fast-json-patch';
import { ApplyConflict, fieldPaths, recordUpdate, serverSideApply } from './apply.js';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** How long a deleted namespace stays Terminating while its objects go (the namespace controller's work). */
export const NAMESPACE_TERMINATION_MS = 1000;
import { PatchError, listSemantics, mergePatch, patchSemantics, strategicMergePatch } from './patch.js';
import { apiVersionOf, type FieldError, type KubeObject, type ResourceKind } from './resources.js';
import { parseFieldSelector, parseLabelSelector, SelectorError, type Matcher } from './selectors.js';
import { ApiError, notFound } from './status.js';
import type { Store } from './store.js';
import { unknownFields, validateName } from './validation.js';
import { validateEndpointAddresses, type EndpointPolicy } from './endpoint-addresses.js';

export interface WriteOptions {
  fieldManager: string;
  fieldValidation: 'Strict' | 'Warn' | 'Ignore';
  dryRun: boolean;
  /** warnings to return in Warning headers */
  warnings: string[];
}

const qualified = (r: ResourceKind) => (r.group === '' ? r.plural : `${r.plural}.${r.group}`);

function invalid(r: ResourceKind, name: string, errs: FieldError[]): ApiError {
  const msg = errs.map((e) => `${e.field}: ${e.message}`).join(', ');
  return new ApiError(422, 'Invalid', `${r.kind} "${name}" is invalid: ${msg}`, {
    name,
    group: r.group,
    kind: r.kind,
    causes: errs.map((e) => ({ reason: e.type, message: e.message, field: e.field })),
  });
}

/** Everything but metadata and status: what a spec change is measured on. */
function specOf(o: KubeObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return JSON.stringify(rest);
}

function withoutVolatile(o: KubeObject): string {
  const c = structuredClone(o);
  if (c.metadata !== undefined) {
    delete c.metadata.resourceVersion;
    delete c.metadata.managedFields;
  }
  return JSON.stringify(c);
}

/**
 * The verbs on stored objects, with the API server's semantics: resourceVersion preconditions,
 * generation on spec changes only, the status subresource split, finalizers, field managers and
 * field validation. Handlers return plain objects; the HTTP layer serializes them.
 */
export class Handlers {
  constructor(
    readonly store: Store,
    readonly resources: ResourceKind[],
    private readonly endpoints: EndpointPolicy = { allowLoopback: false },
  ) {}

  matchers(r: ResourceKind, labelSelector: string | null, fieldSelector: string | null): Matcher {
    try {
      const l = parseLabelSelector(labelSelector);
      const f = parseFieldSelector(fieldSelector, [
        'metadata.name',
        'metadata.namespace',
        ...(r.fieldSelectors ?? []),
      ]);
      return (o) => l(o) && f(o);
    } catch (err) {
      if (err instanceof SelectorError) throw new ApiError(400, 'BadRequest', err.message);
      throw err;
    }
  }

  get(r: ResourceKind, ns: string | undefined, name: string): KubeObject {
    const o = this.store.get(r, ns, name);
    if (o === undefined) throw notFound(r.plural, r.group, name);
    return o;
  }

  list(
    r: ResourceKind,
    ns: string | undefined,
    match: Matcher,
    limit: number,
    cont: string | null,
  ): KubeObject {
    let after: string | null = null;
    if (cont !== null && cont !== '') {
      try {
        after = (JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { after: string }).after;
      } catch {
        throw new ApiError(400, 'BadRequest', 'continue key is not valid');
      }
    }
    const all = this.store.list(r, ns).filter(match);
    const keyOf = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    const start = after === null ? 0 : all.findIndex((o) => keyOf(o) > (after as string));
    const from = start < 0 ? all.length : start;
    const page = limit > 0 ? all.slice(from, from + limit) : all.slice(from);
    const more = limit > 0 && from + limit < all.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(this.store.resourceVersion) };
    if (more) {
      metadata.continue = Buffer.from(
        JSON.stringify({ after: keyOf(page[page.length - 1] as KubeObject) }),
      ).toString('base64url');
      metadata.remainingItemCount = all.length - from - page.length;
    }
    return {
      apiVersion: apiVersionOf(r),
      kind: `${r.kind}List`,
      metadata,
      items: page.map((o) => structuredClone(o)),
    } as KubeObject;
  }

  private checkBody(r: ResourceKind, body: unknown, ns: string | undefined, name?: string): KubeObject {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new ApiError(400, 'BadRequest', 'the body must be a JSON object');
    const obj = body as KubeObject;
    if (obj.kind !== undefined && obj.kind !== r.kind) {
      throw new ApiError(
        400,
        'BadRequest',
        `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersionOf(r)}) or kind ${String(obj.kind)} is not ${r.kind}`,
      );
    }
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersionOf(r)) {
      throw new ApiError(
        400,
        'BadRequest',
        `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersionOf(r)})`,
      );
    }
    obj.apiVersion = apiVersionOf(r);
    obj.kind = r.kind;
    const meta = (obj.metadata ??= {});
    if (typeof meta !== 'object' || Array.isArray(meta))
      throw new ApiError(400, 'BadRequest', 'metadata must be an object');
    if (r.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== ns) {
        throw new ApiError(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = ns;
    } else {
      delete meta.namespace;
    }
    if (name !== undefined && meta.name !== undefined && meta.name !== name) {
      throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    }
    if (name !== undefined) meta.name = name;
    return obj;
  }

  private validate(r: ResourceKind, obj: KubeObject, opts: WriteOptions): void {
    const name = String(obj.metadata?.name ?? '');
    const nameErr = validateName(r, obj.metadata?.name);
    const errs = [
      ...(nameErr === null ? [] : [nameErr]),
      ...(r.validate?.(obj) ?? []),
      ...(r.kind === 'EndpointSlice' ? validateEndpointAddresses(obj, this.endpoints) : []),
    ];
    if (errs.length > 0) throw invalid(r, name, errs);
    if (opts.fieldValidation !== 'Ignore') {
      const unknown = unknownFields(r, obj);
      if (unknown.length > 0) {
        if (opts.fieldValidation === 'Strict') {
          throw new ApiError(
            400,
            'BadRequest',
            `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`,
          );
        }
        for (const f of unknown) opts.warnings.push(`unknown field "${f}"`);
      }
    }
  }

  /** A create needs its namespace to exist and not be terminating (NamespaceLifecycle admission). */
  private requireNamespace(r: ResourceKind, ns: string | undefined, name?: string): void {
    if (!r.namespaced) return;
    const nsKind = this.resources.find((k) => k.kind === 'Namespace' && k.group === '') as ResourceKind;
    const namespace = ns === undefined ? undefined : this.store.get(nsKind, undefined, ns);
    if (namespace === undefined) {
      throw new ApiError(404, 'NotFound', `namespaces "${ns ?? ''}" not found`, {
        name: ns,
        kind: 'namespaces',
      });
    }
    if (namespace.metadata?.deletionTimestamp !== undefined) {
      const message = `unable to create new content in namespace ${String(ns)} because it is being terminated`;
      throw new ApiError(403, 'Forbidden', `${qualified(r)} "${name ?? ''}" is forbidden: ${message}`, {
        name,
        group: r.group,
        kind: r.plural,
        causes: [{ reason: 'NamespaceTerminating', message, field: 'metadata.namespace' }],
      });
    }
  }

  /**
   * Deleting a namespace, as the real server and its namespace controller do it: the namespace turns
   * Terminating at once (new content refused), its objects go, then the namespace itself, shortly after.
   */
  private terminateNamespace(r: ResourceKind, existing: KubeObject): KubeObject {
    const name = existing.metadata?.name as string;
    if (existing.metadata?.deletionTimestamp !== undefined) return existing;
    const marked = structuredClone(existing);
    const meta = marked.metadata as NonNullable<KubeObject['metadata']>;
    meta.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    marked.status = { ...(marked.status as object | undefined), phase: 'Terminating' };
    const stored = this.store.put(r, marked, 'MODIFIED');
    const finish = setTimeout(() => {
      for (const k of this.resources) {
        if (!k.namespaced) continue;
        for (const o of [...this.store.list(k, name)]) this.store.remove(k, o);
      }
      const now = this.store.get(r, undefined, name);
      if (now !== undefined) this.store.remove(r, now);
    }, NAMESPACE_TERMINATION_MS);
    finish.unref();
    return stored;
  }

  create(r: ResourceKind, ns: string | undefined, body: unknown, opts: WriteOptions): KubeObject {
    const obj = this.checkBody(r, body, ns);
    const meta = obj.metadata as NonNullable<KubeObject['metadata']>;
    if ((meta.name === undefined || meta.name === '') && typeof meta.generateName === 'string') {
      meta.name = meta.generateName + randomBytes(3).toString('hex').slice(0, 5);
    }
    for (const k of [
      'uid',
      'resourceVersion',
      'creationTimestamp',
      'deletionTimestamp',
      'generation',
      'managedFields',
    ] as const)
      delete meta[k];
    this.validate(r, obj, opts);
    this.requireNamespace(r, ns, meta.name as string | undefined);
    if (this.store.get(r, ns, meta.name as string) !== undefined) {
      throw new ApiError(409, 'AlreadyExists', `${qualified(r)} "${String(meta.name)}" already exists`, {
        name: meta.name,
        group: r.group,
        kind: r.plural,
      });
    }
    if (r.statusSubresource && r.kind !== 'Namespace') delete obj.status;
    r.defaults?.(obj);
    if (r.hasSpec) meta.generation = 1;
    recordUpdate(undefined, obj, opts.fieldManager, listSemantics(r), apiVersionOf(r));
    return opts.dryRun ? obj : this.store.put(r, obj, 'ADDED');
  }

  /** PUT, on the object or on its status. */
  update(
    r: ResourceKind,
    ns: string | undefined,
    name: string,
    body: unknown,
    opts: WriteOptions,
    status: boolean,
  ): KubeObject {
    const existing = this.get(r, ns, name);
    const obj = this.checkBody(r, body, ns, name);
    return this.commit(
      r,
      existing,
      obj,
      opts,
      status,
      (obj.metadata?.resourceVersion as string | undefined) ?? '',
    );
  }

  /**
   * Stores `next` in place of `existing` with the server's rules applied. `appliedFields` carries the
   * managedFields server-side apply computed; other writes record an Update for their field manager.
   */
  private commit(
    r: ResourceKind,
    existing: KubeObject,
    next: KubeObject,
    opts: WriteOptions,
    status: boolean,
    precondition: string,
    appliedFields?: unknown,
  ): KubeObject {
    const name = existing.metadata?.name as string;
    if (precondition !== '' && precondition !== existing.metadata?.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        {
          name,
          group: r.group,
          kind: r.plural,
        },
      );
    }
    let obj: KubeObject;
    if (status) {
      obj = structuredClone(existing);
      obj.status = next.status;
      // As the real server's status strategies for the built-in kinds do (they do not reset metadata
      // for status writes): labels, annotations, finalizers and owners come from the request, so a
      // status PUT with a bare metadata erases them there, and here too.
      const from = next.metadata ?? {};
      const to = (obj.metadata ??= {});
      for (const key of ['labels', 'annotations', 'finalizers', 'ownerReferences'] as const) {
        if (from[key] === undefined) delete to[key];
        else to[key] = from[key] as never;
      }
    } else {
      obj = next;
      if (r.statusSubresource) obj.status = existing.status;
    }
    const meta = (obj.metadata ??= {});
    const old = existing.metadata as NonNullable<KubeObject['metadata']>;
    meta.uid = old.uid;
    meta.creationTimestamp = old.creationTimestamp;
    meta.namespace = old.namespace;
    meta.name = old.name;
    if (old.deletionTimestamp !== undefined) {
      meta.deletionTimestamp = old.deletionTimestamp;
      meta.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds;
    } else {
      delete meta.deletionTimestamp;
    }
    meta.generation = old.generation;
    if (!status) {
      this.validate(r, obj, opts);
      r.defaults?.(obj);
      if (r.hasSpec && specOf(obj) !== specOf(existing)) meta.generation = (old.generation ?? 0) + 1;
    }
    if (appliedFields !== undefined) {
      meta.managedFields = appliedFields as unknown[];
    } else {
      meta.managedFields = old.managedFields;
      recordUpdate(
        existing,
        obj,
        opts.fieldManager,
        listSemantics(r),
        apiVersionOf(r),
        status ? 'status' : undefined,
      );
    }
    if (withoutVolatile(obj) === withoutVolatile(existing)) return existing; // a no-op write stores nothing
    if (opts.dryRun) return obj;
    if (meta.deletionTimestamp !== undefined && (meta.finalizers ?? []).length === 0)
      return this.store.remove(r, obj);
    return this.store.put(r, obj, 'MODIFIED');
  }

  patch(
    r: ResourceKind,
    ns: string | undefined,
    name: string,
    contentType: string,
    parsed: unknown,
    opts: WriteOptions & { force: boolean },
    status: boolean,
  ): { object: KubeObject; created: boolean } {
    if (contentType.startsWith('application/apply-patch')) return this.apply(r, ns, name, parsed, opts);
    const existing = this.get(r, ns, name);
    let next: unknown;
    try {
      if (contentType.startsWith('application/json-patch+json')) {
        if (!Array.isArray(parsed))
          throw new ApiError(400, 'BadRequest', 'a JSON patch must be a list of operations');
        next = jsonPatch.applyPatch(
          structuredClone(existing),
          parsed as jsonPatch.Operation[],
          true,
          false,
        ).newDocument;
      } else if (contentType.startsWith('application/merge-patch+json')) {
        next = mergePatch(existing, parsed);
      } else if (contentType.startsWith('application/strategic-merge-patch+json')) {
        next = strategicMergePatch(existing, parsed, patchSemantics(r));
      } else {
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
        );
      }
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (err instanceof PatchError) throw new ApiError(400, 'BadRequest', err.message);
      const e = err as { name?: string; message?: string };
      if (e.name === 'TEST_OPERATION_FAILED')
        throw new ApiError(
          422,
          'Invalid',
          `the server rejected our request due to an error in our request: ${e.message ?? ''}`,
        );
      throw new ApiError(400, 'BadRequest', `the patch could not be applied: ${e.message ?? String(err)}`);
    }
    const obj = this.checkBody(r, next, ns, name);
    const pre =
      (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
        ? ((parsed as KubeObject).metadata?.resourceVersion as string | undefined)
        : undefined) ?? '';
    return { object: this.commit(r, existing, obj, opts, status, pre), created: false };
  }

  private apply(
    r: ResourceKind,
    ns: string | undefined,
    name: string,
    parsed: unknown,
    opts: WriteOptions & { force: boolean },
  ): { object: KubeObject; created: boolean } {
    if (opts.fieldManager === '' || opts.fieldManager === undefined) {
      throw new ApiError(
        400,
        'BadRequest',
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      );
    }
    const applied = this.checkBody(r, parsed, ns, name);
    const existing = this.store.get(r, ns, name);
    let merged: KubeObject;
    try {
      merged = this.applyWithLastApplied(r, existing, applied, opts);
    } catch (err) {
      if (err instanceof ApplyConflict) {
        throw new ApiError(409, 'Conflict', err.message, {
          causes: err.conflicts.map((c) => ({
            reason: 'FieldManagerConflict',
            message: `conflict with "${c.manager}"`,
            field: c.path,
          })),
        });
      }
      throw err;
    }
    if (existing === undefined) {
      const created = this.createFromApply(r, ns, merged, opts);
      return { object: created, created: true };
    }
    const object = this.commit(r, existing, merged, opts, false, '', merged.metadata?.managedFields ?? []);
    return { object, created: false };
  }

  /**
   * Server-side apply, where the API server lets `kubectl` take over without conflict the fields it set
   * earlier by client-side apply (those in the last-applied-configuration annotation).
   */
  private applyWithLastApplied(
    r: ResourceKind,
    existing: KubeObject | undefined,
    applied: KubeObject,
    opts: WriteOptions & { force: boolean },
  ): KubeObject {
    const sem = listSemantics(r);
    try {
      return serverSideApply(existing, applied, opts.fieldManager, opts.force, sem, apiVersionOf(r));
    } catch (err) {
      if (!(err instanceof ApplyConflict) || opts.fieldManager !== 'kubectl' || existing === undefined)
        throw err;
      const last = existing.metadata?.annotations?.[LAST_APPLIED];
      if (last === undefined) throw err;
      const allowed = fieldPaths(JSON.parse(last) as unknown, sem);
      if (!err.conflicts.every((c) => allowed.has(c.raw))) throw err;
      return serverSideApply(existing, applied, opts.fieldManager, true, sem, apiVersionOf(r));
    }
  }

  private createFromApply(
    r: ResourceKind,
    ns: string | undefined,
    obj: KubeObject,
    opts: WriteOptions,
  ): KubeObject {
    this.validate(r, obj, opts);
    this.requireNamespace(r, ns, obj.metadata?.name as string | undefined);
    if (r.statusSubresource && r.kind !== 'Namespace') delete obj.status;
    r.defaults?.(obj);
    if (r.hasSpec) (obj.metadata as NonNullable<KubeObject['metadata']>).generation = 1;
    return opts.dryRun ? obj : this.store.put(r, obj, 'ADDED');
  }

  delete(r: ResourceKind, ns: string | undefined, name: string, body: unknown, dryRun: boolean): KubeObject {
    const existing = this.get(r, ns, name);
    const pre = (body as { preconditions?: { resourceVersion?: string; uid?: string } } | null)
      ?.preconditions;
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== existing.metadata?.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(r)} "${name}": the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${String(existing.metadata?.resourceVersion)}). The object might have been modified`,
      );
    }
    if (pre?.uid !== undefined && pre.uid !== existing.metadata?.uid) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(r)} "${name}": the UID in the precondition (${pre.uid}) does not match the UID in record (${String(existing.metadata?.uid)}). The object might have been deleted and then recreated`,
      );
    }
    if (dryRun) return existing;
    if ((existing.metadata?.finalizers ?? []).length > 0) {
      if (existing.metadata?.deletionTimestamp !== undefined) return existing;
      const marked = structuredClone(existing);
      const meta = marked.metadata as NonNullable<KubeObject['metadata']>;
      meta.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      meta.deletionGracePeriodSeconds = 0;
      return this.store.put(r, marked, 'MODIFIED');
    }
    if (r.kind === 'Namespace' && r.group === '') return this.terminateNamespace(r, existing);
    return this.store.remove(r, existing);
  }

  deleteCollection(r: ResourceKind, ns: string | undefined, match: Matcher, dryRun: boolean): KubeObject {
    const victims = this.store
      .list(r, ns)
      .filter(match)
      .map((o) => structuredClone(o));
    const items = victims.map((o) => this.delete(r, ns, o.metadata?.name as string, null, dryRun));
    return {
      apiVersion: apiVersionOf(r),
      kind: `${r.kind}List`,
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items,
    } as KubeObject;
  }
}
