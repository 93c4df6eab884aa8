/**
 * Fault injection for tests, driven over HTTP under /_sim: fail, delay, garble or cut off the answers
 * to matching requests, a given number of times.
 */
export interface Fault {
  method?: string;
  /** requests whose path starts with this */
  pathPrefix?: string;
  /** answer with this status (a Status body) */
  status?: number;
  /** the Status body's message and reason, and a cause (as the API server's NamespaceTerminating) */
  message?: string;
  reason?: string;
  cause?: string;
  delayMs?: number;
  /** answer 200 with a body that is not JSON */
  garbage?: boolean;
  /** start a 200 answer and cut the connection halfway */
  truncate?: boolean;
  /** how many requests it applies to; unlimited when absent */
  count?: number;
}

export class Faults {
  private faults: Fault[] = [];

  set(list: Fault[]): void {
    this.faults = list.map((f) => ({ ...f }));
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  clear(): void {
    this.faults = [];
  }

  /** The fault for this request, counting it down. */
  take(method: string, path: string): Fault | null {
    for (const f of this.faults) {
      if (f.method !== undefined && f.method.toUpperCase() !== method) continue;
      if (f.pathPrefix !== undefined && !path.startsWith(f.pathPrefix)) continue;
      if (f.count !== undefined) {
        if (f.count <= 0) continue;
        f.count--;
      }
      return f;
    }
    return null;
  }
}
