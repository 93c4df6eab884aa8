/**
 * Go-style durations as both programs' flags and the agent's annotations take them: "30s", "1m30s",
 * "500ms", or plain seconds. Null when the text is not one.
 */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

export function durationMs(value: string): number | null {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  let total = 0;
  let consumed = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
    consumed += m[0].length;
  }
  return consumed === value.length && consumed > 0 ? total : null;
}
