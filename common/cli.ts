import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * What the three programs share on their command line: `--help` and `--version` answered and exit 0,
 * and a flag that is unknown, misspelt or missing its value answered with one line that points to
 * `--help`, exit 2, instead of a stack trace.
 */

/** The package's version, found by walking up to package.json (the same from source and from dist/). */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tunnel-ingress' && pkg.version !== undefined) return pkg.version;
    }
    dir = path.dirname(dir);
  }
  return 'DEV';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs with --help and --version added. Returns null when the program has already answered (help
 * or version printed); exits 2 with a pointer to --help on a bad command line.
 */
export function parseCli<T extends Options>(
  program: string,
  usage: string,
  options: T,
  args: string[] = process.argv.slice(2),
): ReturnType<typeof parseArgs<{ options: T; strict: true; args: string[] }>>['values'] | null {
  let values;
  try {
    values = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
      strict: true,
    }).values as Record<string, unknown>;
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    process.stderr.write(`${program}: ${message}\nRun '${program} --help' for the flags it takes.\n`);
    process.exit(2);
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return null;
  }
  if (values.version === true) {
    process.stdout.write(`${program} ${packageVersion()}\n`);
    return null;
  }
  return values as never;
}
