import { readFileSync } from 'node:fs';

/** CPU time and resident memory of a process, read from /proc (Linux). */
const CLK_TCK = 100;

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

/**
 * The sum of the kernel's machine-wide UDP counters named, from /proc/net/snmp (RcvbufErrors:
 * datagrams dropped for a full receive buffer; SndbufErrors: for a full send buffer), or 0 where there
 * are none.
 */
export function udpCounters(...wanted: Array<'RcvbufErrors' | 'SndbufErrors'>): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Udp: '));
    const names = (lines[0] ?? '').split(' ');
    const values = (lines[1] ?? '').split(' ');
    return wanted.reduce((sum, name) => sum + (Number(values[names.indexOf(name)] ?? 0) || 0), 0);
  } catch {
    return 0;
  }
}
