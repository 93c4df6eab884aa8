import { scanLogs } from './helpers/secret-scan.js';

/**
 * Run by `npm test` after the suite: every log line of every process the suite spawned, searched for
 * every secret the tests registered. vitest does not fail a run on a global teardown error, hence a
 * step of its own.
 */
const { files, secrets, leaks } = scanLogs();
if (leaks.length > 0) {
  process.stderr.write(`secret scan: secrets found in process logs:\n${leaks.join('\n')}\n`);
  process.exit(1);
}
if (files === 0 || secrets === 0) {
  process.stderr.write(
    `secret scan: nothing to scan (${files} logs, ${secrets} secrets): did the suite run?\n`,
  );
  process.exit(1);
}
process.stdout.write(`secret scan: ${secrets} secrets searched in ${files} process logs, none found\n`);
