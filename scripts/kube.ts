import { ensureBuilt, GoMissingError } from '../test/kube/go-build.js';
import {
  KUBERNETES_BUILD,
  readControlPlane,
  startControlPlane,
  stopControlPlane,
} from '../test/kube/control-plane.js';

/**
 * `npm run kube -- start DIR | stop DIR | status DIR | build`: a real Kubernetes control plane on
 * 127.0.0.1 for trying the agent and the chart against the real API server (test/kube/control-plane.ts).
 */
const USAGE = `usage: npm run kube -- <command> [DIR]

  build        build etcd, kube-apiserver and kube-controller-manager (cached in .tools/kube/)
  start DIR    build if needed, start them on 127.0.0.1, write DIR/kubeconfig; returns once ready
  stop DIR     stop what start DIR started
  status DIR   print the server's URL and processes, or say that none runs there

Needs Go 1.26 or newer (the test bed only: the product needs no Go).`;

const [command, dir] = process.argv.slice(2);
const say = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  switch (command) {
    case 'build':
      say(`kube: binaries in ${await ensureBuilt(KUBERNETES_BUILD, say)}`);
      return 0;
    case 'start': {
      if (dir === undefined) break;
      const cp = await startControlPlane(dir, { log: say });
      process.stdout.write(
        `Kubernetes ${cp.version} is serving at ${cp.url}\n` +
          `  kubectl --kubeconfig ${cp.kubeconfig} get namespaces\n` +
          `  audit log: ${cp.auditLog}\n  stop it:   npm run kube -- stop ${dir}\n`,
      );
      return 0;
    }
    case 'stop':
      if (dir === undefined) break;
      say(
        (await stopControlPlane(dir))
          ? `kube: stopped the control plane in ${dir}`
          : `kube: none runs in ${dir}`,
      );
      return 0;
    case 'status': {
      if (dir === undefined) break;
      const cp = readControlPlane(dir);
      process.stdout.write(
        cp === null
          ? `none started in ${dir}\n`
          : `${JSON.stringify({ url: cp.url, version: cp.version, pids: cp.pids })}\n`,
      );
      return 0;
    }
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
  }
  say(USAGE);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(
      err instanceof GoMissingError
        ? `kube: ${err.message}`
        : `kube: ${err instanceof Error ? err.message : String(err)}`,
    );
    process.exit(1);
  },
);
