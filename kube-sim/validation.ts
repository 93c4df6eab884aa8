import { modelAttributes, parseType, type FieldType } from './openapi.js';
import type { FieldError, KubeObject, ResourceKind } from './resources.js';

/**
 * Object names and the schema check behind `fieldValidation`: unknown fields are found by walking the
 * object against the model's field map (Strict rejects them, Warn reports them, Ignore drops nothing).
 */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function validateName(r: ResourceKind, name: unknown): FieldError | null {
  if (typeof name !== 'string' || name === '') {
    return {
      field: 'metadata.name',
      type: 'FieldValueRequired',
      message: 'Required value: name or generateName is required',
    };
  }
  const label = r.kind === 'Namespace';
  const ok = label
    ? DNS1123_LABEL.test(name) && name.length <= 63
    : DNS1123_SUBDOMAIN.test(name) && name.length <= 253;
  if (ok) return null;
  return {
    field: 'metadata.name',
    type: 'FieldValueInvalid',
    message: `Invalid value: "${name}": a lowercase RFC 1123 ${label ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
  };
}

/** Paths of fields the schema does not know, like the API server's "unknown field" list. */
export function unknownFields(r: ResourceKind, obj: KubeObject): string[] {
  const out: string[] = [];
  const walk = (v: unknown, t: FieldType, path: string) => {
    if (v === null || v === undefined) return;
    switch (t.kind) {
      case 'model': {
        if (typeof v !== 'object' || Array.isArray(v)) return;
        const known = new Map((modelAttributes(t.model) ?? []).map((a) => [a.baseName, parseType(a.type)]));
        for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
          const p = path === '' ? k : `${path}.${k}`;
          const ft = known.get(k);
          if (ft === undefined) out.push(p);
          else walk(x, ft, p);
        }
        return;
      }
      case 'array':
        if (Array.isArray(v)) v.forEach((x, i) => walk(x, t.items, `${path}[${i}]`));
        return;
      case 'map':
        if (typeof v === 'object' && !Array.isArray(v))
          for (const [k, x] of Object.entries(v as object)) walk(x, t.values, `${path}.${k}`);
        return;
      default:
        return;
    }
  };
  walk(obj, { kind: 'model', model: r.model }, '');
  return out;
}
