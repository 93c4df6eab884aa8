import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The version the agent reports to the edge (ClientInfo.version). Found by walking up to package.json,
 * so it is the same whether the agent runs from source (tsx) or from dist/.
 */
export function agentVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tunnel-ingress' && pkg.version !== undefined) return `tunnel-ingress-${pkg.version}`;
    }
    dir = path.dirname(dir);
  }
  return 'tunnel-ingress-DEV';
}
