import type { RE2JS } from 're2js';
import {
  HostRoutes,
  RouteTable,
  type Backend,
  type FiledCandidate,
  type RouteCandidate,
  type RouteEntry,
} from './route-table.js';

/** How a candidate's path is tested: filed by exact path, by prefix, or tried as a regular expression. */
export type PathTest =
  | { type: 'Exact'; value: string }
  | { type: 'PathPrefix'; value: string }
  | { type: 'RegularExpression'; value: string; regex: RE2JS };

type Ordered = FiledCandidate;

function byOrder(a: Ordered, b: Ordered): number {
  return (
    b.prefixChars - a.prefixChars ||
    Number(b.hasMethod) - Number(a.hasMethod) ||
    b.headers - a.headers ||
    b.query - a.query ||
    a.created - b.created ||
    (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0) ||
    a.index - b.index
  );
}

class HostBuilder {
  readonly exact = new Map<string, Ordered[]>();
  readonly prefix = new Map<string, Ordered[]>();
  readonly regex: Array<{ o: Ordered; re: RE2JS }> = [];
  ingress = false;

  add(path: PathTest, o: Ordered): void {
    if (path.type === 'RegularExpression') this.regex.push({ o, re: path.regex });
    else {
      const map = path.type === 'Exact' ? this.exact : this.prefix;
      const key = path.type === 'Exact' ? path.value : prefixKey(path.value);
      const list = map.get(key);
      if (list === undefined) map.set(key, [o]);
      else list.push(o);
    }
  }

  build(): HostRoutes {
    const freeze = (m: Map<string, Ordered[]>) => {
      const out = new Map<string, RouteCandidate[]>();
      for (const [k, list] of m)
        out.set(
          k,
          list.length === 1 ? [(list[0] as Ordered).candidate] : list.sort(byOrder).map((o) => o.candidate),
        );
      return out;
    };
    return new HostRoutes(
      freeze(this.exact),
      freeze(this.prefix),
      this.regex.sort((x, y) => byOrder(x.o, y.o)).map((r) => ({ re: r.re, candidate: r.o.candidate })),
      this.ingress,
    );
  }
}

/** A PathPrefix as the table files it: a trailing slash is ignored ('/abc/' is '/abc'). */
export function prefixKey(value: string): string {
  return value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
}

/**
 * Collects the candidates of every source (Ingress rules, Gateway API route rules) and builds the one
 * immutable RouteTable from them. Each source decides its own conflicts before adding; the builder
 * only files candidates by host and path and orders each list by the Gateway API's precedence.
 */
export class RouteTableBuilder {
  private readonly exactHosts = new Map<string, HostBuilder>();
  private readonly wildcardHosts = new Map<string, HostBuilder>();
  private readonly deepWildcardHosts = new Map<string, HostBuilder>();
  private anyHost: HostBuilder | null = null;
  private readonly entries: RouteEntry[] = [];

  /**
   * Files a candidate. `host` is '' (any host), `*.suffix` or an exact name, lower case. An Ingress
   * wildcard matches one label; a Gateway API wildcard (`deepWildcard`) any number of them.
   */
  add(
    host: string,
    path: PathTest,
    o: FiledCandidate,
    ingress: boolean,
    pathType: string,
    source: string,
  ): void {
    let t: HostBuilder;
    if (host === '') t = this.anyHost ??= new HostBuilder();
    else if (host.startsWith('*.')) {
      const suffix = host.slice(2);
      t = hostIn(this.wildcardHosts, suffix);
      if (!ingress) hostIn(this.deepWildcardHosts, suffix).add(path, o);
    } else t = hostIn(this.exactHosts, host);
    t.add(path, o);
    if (ingress) t.ingress = true;
    this.entries.push({ host, path: path.value, pathType, source, action: o.candidate.action });
  }

  build(generation: number, defaultBackend: Backend | null, sources: readonly string[]): RouteTable {
    const all = (m: Map<string, HostBuilder>) => {
      const out = new Map<string, HostRoutes>();
      for (const [k, b] of m) out.set(k, b.build());
      return out;
    };
    return new RouteTable(
      generation,
      all(this.exactHosts),
      all(this.wildcardHosts),
      all(this.deepWildcardHosts),
      this.anyHost?.build() ?? null,
      defaultBackend,
      this.entries,
      sources,
    );
  }
}

function hostIn(m: Map<string, HostBuilder>, key: string): HostBuilder {
  let b = m.get(key);
  if (b === undefined) m.set(key, (b = new HostBuilder()));
  return b;
}
