import type http2 from 'node:http2';
import { RE2JS } from 're2js';

/**
 * A value test from a route: equal to a string, or matched in full by a regular expression. Regular
 * expressions are RE2's dialect, run by re2js: linear in the input whatever the pattern, because the
 * pattern comes from one tenant's object and the input from any visitor, and a backtracking engine
 * lets one such pair stall every tenant's requests.
 */
export type ValueTest = { exact: string } | { regex: RE2JS };

/** Compiles a route's regular expression, or says in one line why it cannot be used. */
export function compileRegex(pattern: string): { regex: RE2JS } | { problem: string } {
  try {
    return { regex: RE2JS.compile(pattern) };
  } catch (err) {
    return { problem: err instanceof Error ? err.message : String(err) };
  }
}

function passes(test: ValueTest, value: string): boolean {
  return 'exact' in test ? test.exact === value : test.regex.matches(value);
}

export interface HeaderCondition {
  /** lower case */
  name: string;
  test: ValueTest;
}

export interface QueryCondition {
  /** as written: query parameter names compare exactly */
  name: string;
  test: ValueTest;
}

/**
 * What a request must have besides its host and path, as the Gateway API's HTTPRouteMatch says:
 * a method, headers and query parameters, all of them (AND). Built once per match at compile time;
 * an Ingress path has none (null where it is used).
 */
export class RequestConditions {
  constructor(
    readonly method: string | null,
    readonly headers: readonly HeaderCondition[],
    readonly query: readonly QueryCondition[],
  ) {}

  /**
   * `target` is the request's path with its query string (the query follows the first `?`). A repeated
   * header is tested as the proxy sees it (node:http2 joins repeats with ", "); a repeated query
   * parameter by its first value, as the Gateway API recommends.
   */
  test(method: string, headers: http2.IncomingHttpHeaders, target: string): boolean {
    if (this.method !== null && this.method !== method) return false;
    for (const h of this.headers) {
      const v = headers[h.name];
      if (v === undefined) return false;
      if (!passes(h.test, typeof v === 'string' ? v : v.join(', '))) return false;
    }
    if (this.query.length > 0) {
      const q = target.indexOf('?');
      const params = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
      for (const q of this.query) {
        const v = params.get(q.name);
        if (v === null || !passes(q.test, v)) return false;
      }
    }
    return true;
  }
}
