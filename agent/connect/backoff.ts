/**
 * cloudflared's retry timing (spec §3): the n-th retry waits a uniformly random time in [0, base·2^n),
 * n capped at `maxExponent`; a success resets n.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 1000,
    private readonly maxExponent = 5,
    private readonly random: () => number = Math.random,
  ) {}

  get attempts(): number {
    return this.attempt;
  }

  /** The next wait in milliseconds; advances the counter. */
  next(): number {
    this.attempt++;
    const exp = Math.min(this.attempt, this.maxExponent);
    return Math.floor(this.random() * this.baseMs * 2 ** exp);
  }

  reset(): void {
    this.attempt = 0;
  }
}
