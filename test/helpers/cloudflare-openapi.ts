import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const here = path.dirname(fileURLToPath(import.meta.url));
export const OPENAPI_FILE = path.resolve(here, '../../../shared/cloudflare-api/openapi-subset.json');

interface Operation {
  method: string;
  path: RegExp;
  template: string;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;

/**
 * Validates Cloudflare API responses against ../shared/cloudflare-api/openapi-subset.json: the response
 * schema of the operation a request matched, for its status (2xx, else 4XX/4xx). Tests wrap the fetch
 * the SDK uses with `validatingFetch` so every response edge-sim sends is checked.
 */
export class CloudflareSchema {
  private readonly ajv: Ajv;
  private readonly ops: Operation[] = [];
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(file = OPENAPI_FILE) {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as {
      paths: Record<string, Record<string, { responses: Operation['responses'] }>>;
      components: { schemas: Record<string, unknown> };
    };
    this.ajv = new Ajv({ strict: false, allErrors: true, discriminator: false });
    addFormats(this.ajv);
    this.ajv.addSchema({ components: doc.components }, 'cf');
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        const re = template.replace(/\{[^}]+\}/g, '[^/]+');
        this.ops.push({
          method: method.toUpperCase(),
          path: new RegExp(`^${re}$`),
          template,
          responses: op.responses,
        });
      }
    }
    // Literal paths first: /cfd_tunnel/{id}/token must not match /cfd_tunnel/{id}.
    this.ops.sort((a, b) => b.template.split('/').length - a.template.split('/').length);
  }

  /** Null when valid, else the errors as text. Throws for a request no operation covers. */
  check(method: string, apiPath: string, status: number, body: unknown): string | null {
    const op = this.ops.find((o) => o.method === method && o.path.test(apiPath));
    if (op === undefined) throw new Error(`no operation in the OpenAPI subset for ${method} ${apiPath}`);
    const keys = Object.keys(op.responses);
    const key =
      status >= 200 && status < 300
        ? keys.find((k) => k === String(status) || k === '200')
        : keys.find((k) => k === String(status) || k.toUpperCase() === '4XX');
    if (status >= 300) {
      // The 4XX schemas combine the success envelope (success: true) with the failure one (success:
      // false) in an allOf no body can satisfy; a failure is checked against the failure envelope of
      // the operation's family. 429 and 5xx are not described per operation and carry the same.
      const family = /"#\/components\/schemas\/([a-z-]+)_api-response-common-failure"/.exec(
        JSON.stringify(key === undefined ? {} : op.responses[key]),
      );
      return this.validate(
        `#/components/schemas/${family?.[1] ?? 'tunnel'}_api-response-common-failure`,
        body,
      );
    }
    if (key === undefined) return `no ${status} response is described for ${method} ${op.template}`;
    const schema = op.responses[key]?.content?.['application/json']?.schema;
    if (schema === undefined) return null;
    const cacheKey = `${op.method} ${op.template} ${key}`;
    let fn = this.cache.get(cacheKey);
    if (fn === undefined) {
      fn = this.ajv.compile(rewriteRefs(schema) as object);
      this.cache.set(cacheKey, fn);
    }
    return fn(body) ? null : this.ajv.errorsText(fn.errors, { separator: '; ' });
  }

  private validate(ref: string, body: unknown): string | null {
    const fn = this.ajv.getSchema(`cf${ref}`) as ValidateFunction;
    return fn(body) ? null : this.ajv.errorsText(fn.errors, { separator: '; ' });
  }
}

function rewriteRefs(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"cf#/'));
}

/** A fetch that validates each /client/v4 response (by a clone) and collects violations. */
export function validatingFetch(schema: CloudflareSchema, violations: string[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const apiPath = url.pathname.replace(/^\/client\/v4/, '');
    const method = (init?.method ?? 'GET').toUpperCase();
    const body: unknown = await res.clone().json();
    const problem = schema.check(method, apiPath, res.status, body);
    if (problem !== null) violations.push(`${method} ${apiPath} ${res.status}: ${problem}`);
    return res;
  };
}
