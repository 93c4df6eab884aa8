/**
 * The last requests the agent proxied, newest last, for /requests and the dashboard: a fixed-size ring,
 * so memory stays flat however much traffic passes.
 */
export interface RequestRecord {
  time: string;
  method: string;
  host: string;
  path: string;
  status: number;
  durationMs: number;
  /** the endpoint that answered, or "agent" for the agent's own 404/503 */
  endpoint: string;
  bytesIn: number;
  bytesOut: number;
  ray: string;
  /** set when the origin failed */
  error?: string;
}

export class RequestLog {
  private readonly ring: Array<RequestRecord | undefined>;
  private next = 0;
  private listeners = new Set<(r: RequestRecord) => void>();

  constructor(readonly capacity = 1000) {
    this.ring = new Array(capacity);
  }

  add(r: RequestRecord): void {
    this.ring[this.next] = r;
    this.next = (this.next + 1) % this.capacity;
    for (const l of this.listeners) l(r);
  }

  /** Oldest first. */
  recent(): RequestRecord[] {
    const out: RequestRecord[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const r = this.ring[(this.next + i) % this.capacity];
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  subscribe(l: (r: RequestRecord) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
