import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';

/**
 * A sample origin for the demo, the tests and the benchmarks:
 *   /echo            → JSON: method, url, headers, body length and sha256 (the body is streamed, not kept)
 *   /bytes/N         → N deterministic bytes (?chunked=1 for Transfer-Encoding: chunked)
 *   /status/CODE     → that status, with a short body where one is allowed
 *   /cookies         → two Set-Cookie headers
 *   /slow/MS         → answers after MS milliseconds
 *   /                → a small page naming this origin
 */
export function patternBytes(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = ((offset + i) * 31 + 7) & 0xff;
  return b;
}

export function patternSha256(length: number): string {
  const h = createHash('sha256');
  const chunk = 64 * 1024;
  for (let at = 0; at < length; at += chunk) h.update(patternBytes(at, Math.min(chunk, length - at)));
  return h.digest('hex');
}

function sendBytes(res: ServerResponse, n: number, chunked: boolean): void {
  res.writeHead(
    200,
    chunked
      ? { 'content-type': 'application/octet-stream' }
      : { 'content-type': 'application/octet-stream', 'content-length': n },
  );
  let at = 0;
  const chunk = 64 * 1024;
  const pump = () => {
    while (at < n) {
      const len = Math.min(chunk, n - at);
      const ok = res.write(patternBytes(at, len));
      at += len;
      if (!ok) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

export function handle(name: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://origin');
  const parts = url.pathname.split('/');
  if (url.pathname === '/echo' || url.pathname.startsWith('/echo/')) {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (c: Buffer) => {
      length += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const body = JSON.stringify({
        origin: name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        bodyLength: length,
        bodySha256: hash.digest('hex'),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-origin': name });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    return;
  }
  req.resume();
  if (parts[1] === 'bytes') {
    sendBytes(res, Number(parts[2] ?? 0), url.searchParams.get('chunked') === '1');
    return;
  }
  if (parts[1] === 'status') {
    const code = Number(parts[2] ?? 200);
    res.writeHead(code, { 'x-origin': name });
    res.end(code === 204 || code === 304 ? undefined : `status ${code}\n`);
    return;
  }
  if (parts[1] === 'cookies') {
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly']);
    res.end('cookies\n');
    return;
  }
  if (parts[1] === 'slow') {
    setTimeout(() => res.end(`slept ${parts[2]}\n`), Number(parts[2] ?? 0));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'x-origin': name });
  res.end(
    `<!DOCTYPE html><title>${name}</title><h1>Hello from ${name}</h1><p>${req.method} ${req.url}</p>\n`,
  );
}

export function startEchoOrigin(
  name: string,
  port = 0,
  host = '127.0.0.1',
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => handle(name, req, res));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const name = process.argv[2] ?? 'origin';
  const port = Number(process.argv[3] ?? 0);
  startEchoOrigin(name, port, process.argv[4] ?? '127.0.0.1').then(({ port: p }) => {
    process.stdout.write(JSON.stringify({ msg: 'origin listening', name, port: p }) + '\n');
  });
}
