import { parseCli } from '../common/cli.js';
import { buildConfig } from './config.js';
import { parseArgsOptions, usage, type RawFlags } from './flags.js';
import { createLoggers } from './observability/log.js';
import { startAgent } from './start-agent.js';

/**
 * The `tunnel-ingress` command: flags to a checked configuration, the agent started through its
 * composition root, SIGTERM and SIGINT to a graceful shutdown (a second signal exits at once). A
 * configuration or start-up problem is one line on stderr and exit 2.
 */
async function main(): Promise<void> {
  const values = parseCli('tunnel-ingress', usage(), parseArgsOptions());
  if (values === null) return;
  const config = buildConfig(values as RawFlags, process.env);
  const loggers = createLoggers(config.logLevel, { pretty: config.logPretty, accessLog: config.accessLog });
  let agent;
  try {
    agent = await startAgent(config, { loggers });
  } catch (err) {
    // What was logged before the failure goes out first, then the one line that says why.
    await loggers.flush();
    throw err;
  }
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) {
      agent.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    agent.log.info(
      { signal, gracePeriodMs: config.gracePeriodMs },
      'shutting down: unregistering and draining',
    );
    agent.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`tunnel-ingress: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`tunnel-ingress: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
