import type { RequestContext } from './request-context.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The agent's own answer (a refused request, no route, no ready endpoint, a route's redirect with its
 * Location, a CORS preflight with its headers), sent as an origin's would be so that the visitor sees
 * why; the edge shows it as it is. A 204 has no body. Sets the context's status.
 */
export function answerLocally(
  ctx: RequestContext,
  status: number,
  message: string,
  location?: string,
  extra?: readonly string[],
): void {
  ctx.status = status;
  const stream = ctx.stream;
  stream.on('error', ignore);
  if (stream.destroyed) return;
  if (status === 204) {
    ctx.responder.respond(stream, status, extra === undefined ? [] : [...extra], undefined);
    stream.end();
    return;
  }
  const body = `<!DOCTYPE html><title>${status}</title><h1>${status}</h1><p>${escapeHtml(message)}</p><p>tunnel-ingress</p>\n`;
  const length = String(Buffer.byteLength(body));
  const headers = [
    'Content-Type',
    'text/html; charset=utf-8',
    'Content-Length',
    length,
    'Cache-Control',
    'no-store',
  ];
  if (location !== undefined) headers.push('Location', location);
  if (extra !== undefined) headers.push(...extra);
  ctx.responder.respond(stream, status, headers, length);
  stream.end(body);
}

function ignore(): void {}
