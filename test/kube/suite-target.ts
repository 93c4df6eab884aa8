import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AUDIT_DIR } from '../helpers/chart-rbac.js';
import { type ControlPlane, startControlPlane, stopControlPlane } from './control-plane.js';
import { goBinary } from './go-build.js';

/**
 * Which Kubernetes API server the suite's Kubernetes-facing tests talk to. One real control plane
 * (test/kube/control-plane.ts) is shared by the whole run, each test in a namespace of its own; where
 * Go is absent (a laptop without it) they fall back to kube-sim, and the run says so once.
 * TI_KUBE=sim forces kube-sim; TI_KUBE=real (CI) makes a missing Go or a failed build an error instead
 * of a fallback, so that CI never passes on the simulator by accident.
 */
export type SuiteKube =
  | { kind: 'kube-apiserver'; controlPlane: ControlPlane; podIp: string }
  | { kind: 'kube-sim'; why: string; podIp: string };

declare module 'vitest' {
  export interface ProvidedContext {
    kube: SuiteKube;
  }
}

/**
 * The address test pods (origin processes) listen on and EndpointSlices name. The real API server
 * refuses loopback and link-local endpoint addresses, as it must, so pods listen on this machine's
 * own non-loopback IPv4 address; kube-sim is told to allow loopback and accepts either.
 */
export function podAddress(): string | null {
  for (const addrs of Object.values(os.networkInterfaces()))
    for (const a of addrs ?? [])
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) return a.address;
  return null;
}

export interface StartedSuiteKube {
  kube: SuiteKube;
  stop(): Promise<void>;
}

export async function startSuiteKube(log: (line: string) => void): Promise<StartedSuiteKube> {
  const want = process.env.TI_KUBE ?? 'auto';
  const sim = (why: string): StartedSuiteKube => {
    log(`Kubernetes-facing tests run against kube-sim: ${why}`);
    return { kube: { kind: 'kube-sim', why, podIp: '127.0.0.1' }, stop: async () => {} };
  };
  if (want === 'sim') return sim('TI_KUBE=sim');
  const podIp = podAddress();
  const missing =
    goBinary() === null
      ? 'Go is not installed, so the real control plane cannot be built (see docs/testing.md)'
      : podIp === null
        ? 'this machine has no non-loopback IPv4 address for test pods (the real API server refuses loopback endpoints)'
        : null;
  if (missing !== null) {
    if (want === 'real') throw new Error(`TI_KUBE=real, but ${missing}`);
    return sim(missing);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ti-kube-'));
  const controlPlane = await startControlPlane(dir, {
    auditLog: path.join(AUDIT_DIR, 'kube-apiserver.jsonl'),
    log,
  });
  log(
    `Kubernetes-facing tests run against a real kube-apiserver ${controlPlane.version} at ${controlPlane.url} ` +
      `(pods on ${podIp})`,
  );
  return {
    kube: { kind: 'kube-apiserver', controlPlane, podIp: podIp as string },
    async stop() {
      await stopControlPlane(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
