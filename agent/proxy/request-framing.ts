import type http2 from 'node:http2';

/**
 * Requests the agent refuses to pass on because an origin could frame them differently than the
 * edge did (request smuggling): Content-Length with Transfer-Encoding, Content-Length values that
 * disagree or are not numbers, and any header holding CR, LF or NUL (obs-fold, or a second header
 * smuggled inside a value). Over HTTP/2 the protocol layer already refuses most of these; the QUIC
 * transport carries headers as free-form metadata, so this check is what stands between it and the
 * origin's HTTP/1.1 parser. Runs once per request, allocation-free when the request is sound.
 */
const CONTROL = /[\r\n\0]/;
const DIGITS = /^\d{1,15}$/;

/** null when the request is sound; otherwise why it is refused, for the 400 page and the log. */
export function framingProblem(headers: http2.IncomingHttpHeaders): string | null {
  const cl = headers['content-length'];
  if (cl !== undefined) {
    if (headers['transfer-encoding'] !== undefined)
      return 'the request has both Content-Length and Transfer-Encoding';
    const problem = Array.isArray(cl) ? lengthsProblem(cl) : lengthProblem(cl);
    if (problem !== null) return problem;
  }
  for (const name in headers) {
    if (CONTROL.test(name)) return 'a header name holds CR, LF or NUL';
    const v = headers[name];
    if (typeof v === 'string') {
      if (CONTROL.test(v)) return `the ${name} header holds CR, LF or NUL (obs-fold or an injected header)`;
    } else if (v !== undefined) {
      for (let i = 0; i < v.length; i++)
        if (CONTROL.test(v[i] as string))
          return `the ${name} header holds CR, LF or NUL (obs-fold or an injected header)`;
    }
  }
  return null;
}

function lengthProblem(v: string): string | null {
  if (DIGITS.test(v)) return null;
  // "5, 5" is one length said twice (RFC 9110 §8.6 lets a recipient accept it); "5, 6" is two.
  return lengthsProblem(v.split(','));
}

function lengthsProblem(values: string[]): string | null {
  let first: string | null = null;
  for (const raw of values) {
    const v = raw.trim();
    if (!DIGITS.test(v)) return `Content-Length "${raw}" is not a number`;
    if (first === null) first = v;
    else if (v !== first) return 'the request has two different Content-Length values';
  }
  return null;
}
