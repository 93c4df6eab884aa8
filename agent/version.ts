import { packageVersion } from '../common/cli.js';

/** The version the agent reports to the edge (ClientInfo.version). */
export function agentVersion(): string {
  return `tunnel-ingress-${packageVersion()}`;
}
