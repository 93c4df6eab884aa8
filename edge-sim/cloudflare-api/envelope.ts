import type { ServerResponse } from 'node:http';

/**
 * Cloudflare's response envelope: `{ success, errors, messages, result, result_info? }`, with errors as
 * `{ code, message }`. Failures carry `result: null`, as the API's *-common-failure schemas require.
 */
export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Fields that are null (not deleted, no comment, never inactive) are left out: the OpenAPI description
 * types them as plain strings, and a client reads a missing field as null anyway. The zone fields it
 * marks required and nullable stay.
 */
const KEEP_NULL = new Set([
  'result',
  'original_name_servers',
  'original_registrar',
  'original_dnshost',
  'activated_on',
]);
const dropNulls = (key: string, value: unknown) =>
  value === null && !KEEP_NULL.has(key) ? undefined : value;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, dropNulls);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendResult(
  res: ServerResponse,
  result: unknown,
  resultInfo?: ResultInfo,
  status = 200,
): void {
  const body: Record<string, unknown> = { success: true, errors: [], messages: [], result };
  if (resultInfo !== undefined) body.result_info = resultInfo;
  sendJson(res, status, body);
}

export function sendError(res: ServerResponse, err: ApiError, headers: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  sendJson(res, err.status, {
    success: false,
    errors: [{ code: err.code, message: err.message }],
    messages: [],
    result: null,
  });
}

/**
 * One page of `items`. Past the last page the result is empty, not an error: the official SDK stops
 * paginating only on an empty page.
 */
export function paginate<T>(items: T[], query: URLSearchParams, maxPerPage = 5000): [T[], ResultInfo] {
  const page = intParam(query, 'page', 1, 1, Number.MAX_SAFE_INTEGER);
  const perPage = intParam(query, 'per_page', 100, 1, maxPerPage);
  const slice = items.slice((page - 1) * perPage, page * perPage);
  return [
    slice,
    {
      page,
      per_page: perPage,
      count: slice.length,
      total_count: items.length,
      total_pages: Math.max(1, Math.ceil(items.length / perPage)),
    },
  ];
}

function intParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ApiError(400, 1004, `${name} must be an integer between ${min} and ${max}`);
  }
  return n;
}
