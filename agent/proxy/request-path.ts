/**
 * The request path the agent matches routes on and forwards, normalized the way Envoy's
 * `normalize_path` and `merge_slashes` do: percent-encoded unreserved characters decoded (RFC 3986
 * §2.3) and other escapes upper-cased, dot-segments removed (§5.2.4), runs of slashes merged. What was
 * matched is what the origin gets, so `/api/../admin` cannot reach `/admin` through a rule for `/api`.
 *
 * An encoded slash or backslash is never decoded into a separator, but an origin may decode it: a
 * segment that would turn into a dot-segment that way (`..%2F`, `..\`) cannot be normalized safely and
 * is refused, as are malformed escapes, control characters, `*` and anything not in origin or absolute
 * form. The query is passed on untouched. A path that needs no change costs one scan and no allocation.
 */
export class PathRefusal {
  constructor(readonly reason: string) {}
}

const ASTERISK = new PathRefusal('the request target "*" names no resource');
const NOT_A_PATH = new PathRefusal('the request target is neither a path nor an absolute URL');
const BAD_ESCAPE = new PathRefusal('the path holds a malformed percent-encoding');
const BAD_CHAR = new PathRefusal('the path holds a control character, a space or a fragment');
const ENCODED_DOTS = new PathRefusal('the path holds a dot-segment behind an encoded slash or a backslash');

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;
/** Characters that make a path worth a second look: escapes, dots, slashes that may merge, backslashes. */
const SPECIAL = /[%.\\]|\/\//;
/** Control characters, space, DEL and '#': never part of a request path. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const INVALID = /[\x00-\x20\x7f#]/;

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~" */
function unreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}

/** The normalized path with its query, or why it is refused. */
export function normalizeRequestPath(target: string): string | PathRefusal {
  let raw = target;
  if (raw.charCodeAt(0) !== 47 /* '/' */) {
    if (raw === '*') return ASTERISK;
    const m = ABSOLUTE.exec(raw);
    if (m === null) return NOT_A_PATH;
    raw = raw.slice(m[0].length);
    if (raw === '' || raw.charCodeAt(0) === 63 /* '?' */) raw = '/' + raw;
  }
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  if (INVALID.test(path)) return BAD_CHAR;
  if (!SPECIAL.test(path)) return raw;
  const decoded = decodeUnreserved(path);
  if (decoded === null) return BAD_ESCAPE;
  const out: string[] = [];
  const segments = decoded.split('/');
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i] as string;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      out.pop();
      continue;
    }
    if (hidesDotSegment(seg)) return ENCODED_DOTS;
    out.push(seg);
  }
  const last = segments[segments.length - 1] as string;
  const trailing = out.length > 0 && (last === '' || last === '.' || last === '..');
  const normalized = '/' + out.join('/') + (trailing ? '/' : '');
  return q < 0 ? normalized : normalized + raw.slice(q);
}

/** Unreserved escapes decoded, the rest upper-cased; null for a malformed escape. */
function decodeUnreserved(path: string): string | null {
  if (path.indexOf('%') < 0) return path;
  let out = '';
  let from = 0;
  for (let i = path.indexOf('%'); i >= 0; i = path.indexOf('%', i)) {
    const h = hex(path.charCodeAt(i + 1));
    const l = hex(path.charCodeAt(i + 2));
    if (h < 0 || l < 0) return null;
    const c = h * 16 + l;
    out +=
      path.slice(from, i) +
      (unreserved(c) ? String.fromCharCode(c) : '%' + path.slice(i + 1, i + 3).toUpperCase());
    i += 3;
    from = i;
  }
  return out + path.slice(from);
}

/** True when splitting on an encoded slash or a backslash would give a '.' or '..' piece. */
function hidesDotSegment(seg: string): boolean {
  if (seg.indexOf('.') < 0) return false;
  if (seg.indexOf('%2F') < 0 && seg.indexOf('%5C') < 0 && seg.indexOf('\\') < 0) return false;
  for (const piece of seg.split(/%2F|%5C|\\/)) if (piece === '.' || piece === '..') return true;
  return false;
}
