import { STATUS_CODES } from 'node:http';

/**
 * The error pages visitors see, modelled on Cloudflare's: the status, the error code in the title and
 * body, and the Ray ID, so a test or an operator can tell an edge error from an origin's own page.
 */
export interface EdgeErrorPage {
  status: number;
  code: number | null;
  title: string;
  detail: string;
}

export const ERRORS = {
  tunnelUnavailable: {
    status: 530,
    code: 1033,
    title: 'Cloudflare Tunnel error',
    detail:
      'The host is configured as a Cloudflare Tunnel, and Cloudflare is currently unable to resolve it.',
  },
  badGateway: {
    status: 502,
    code: 502,
    title: 'Bad gateway',
    detail: 'The web server reported a bad gateway error.',
  },
  // What Cloudflare shows for a hostname none of its zones routes: no proxied record points anywhere.
  unknownHost: {
    status: 530,
    code: 1001,
    title: 'DNS resolution error',
    detail: 'The requested hostname is not routed: no proxied DNS record points it at a tunnel.',
  },
  badRequest: {
    status: 400,
    code: 400,
    title: 'Bad request',
    detail: 'The request could not be understood.',
  },
} satisfies Record<string, EdgeErrorPage>;

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/**
 * The reason phrase of an edge answer's status line: the standard one, or none for the codes that
 * have none (Cloudflare's 52x and 530), as nginx, on which Cloudflare's edge grew, writes them
 * ("HTTP/1.1 530 ") rather than Node's "unknown".
 */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? '';
}

export function renderErrorPage(page: EdgeErrorPage, host: string, ray: string): string {
  const heading = page.code === null ? page.title : `Error ${page.code}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(host)} | ${page.code ?? page.status}: ${escapeHtml(page.title)}</title></head>
<body>
<h1>${escapeHtml(heading)}</h1>
<h2>${escapeHtml(page.title)}</h2>
<p>${escapeHtml(page.detail)}</p>
<p>Ray ID: <code>${escapeHtml(ray)}</code> &bull; Host: ${escapeHtml(host)} &bull; edge-sim</p>
</body></html>
`;
}
