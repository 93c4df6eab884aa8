import type { IngressController } from '../controller/ingress-controller.js';
import type { Backend } from './route-table.js';

/** The compiled route table as /debug/routes shows it: what serves each host and path, and where. */
function backendView(b: Backend): Record<string, unknown> {
  if (b.kind === 'unavailable') return { ingress: b.ingress, service: b.description, unavailable: b.reason };
  return {
    ingress: b.ingress,
    service: b.description,
    endpoints: b.upstream.endpoints.map((e) => `${e.address}:${e.port}`),
  };
}

export function describeRoutes(controller: IngressController): Record<string, unknown> {
  const t = controller.table;
  return {
    mode: 'kubernetes',
    generation: t.generation,
    compiled: controller.lastCompile,
    routes: t.entries.map((e) => ({
      host: e.host,
      path: e.path,
      pathType: e.pathType,
      ...backendView(e.backend),
    })),
    defaultBackend: t.defaultBackend === null ? null : backendView(t.defaultBackend),
    problems: controller.diagnostics,
  };
}
