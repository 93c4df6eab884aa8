/**
 * Recent Events the agent wrote and errors it met (tunnel connections lost, origins failing, DNS
 * conflicts), newest last, for the dashboard. Bounded like the request log; repeats within a second
 * are folded into a count so an error storm does not push everything else out.
 */
export interface Activity {
  time: string;
  kind: 'event' | 'warning' | 'error';
  reason: string;
  message: string;
  /** what it is about: an Ingress, a connection index, an origin */
  subject?: string;
  count: number;
}

export class ActivityLog {
  private readonly items: Activity[] = [];

  constructor(readonly capacity = 200) {}

  add(kind: Activity['kind'], reason: string, message: string, subject?: string): void {
    const last = this.items[this.items.length - 1];
    const now = new Date();
    if (
      last !== undefined &&
      last.kind === kind &&
      last.reason === reason &&
      last.message === message &&
      last.subject === subject &&
      now.getTime() - Date.parse(last.time) < 1000
    ) {
      last.count++;
      return;
    }
    this.items.push({ time: now.toISOString(), kind, reason, message, subject, count: 1 });
    if (this.items.length > this.capacity) this.items.shift();
  }

  recent(): readonly Activity[] {
    return this.items;
  }
}
