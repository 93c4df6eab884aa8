import { describe, expect, it } from 'vitest';
import { groupVersionDoc } from './openapi.js';
import { RESOURCES } from './resources.js';
import { unknownFields, validateName } from './validation.js';

const ingress = RESOURCES.find((r) => r.kind === 'Ingress')!;
const ns = RESOURCES.find((r) => r.kind === 'Namespace')!;

describe('validation from the client-node field maps', () => {
  it('finds unknown fields at any depth, and none in a valid object', () => {
    const obj = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'a', labels: { x: 'y' }, bogus: 1 },
      spec: {
        ingressClassName: 'c',
        rules: [
          {
            host: 'h',
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: 's', port: { number: 80 } } },
                  extra: true,
                },
              ],
            },
          },
        ],
      },
    };
    expect(unknownFields(ingress, obj)).toEqual(['metadata.bogus', 'spec.rules[0].http.paths[0].extra']);
    const clean = structuredClone(obj) as { metadata: Record<string, unknown>; spec: typeof obj.spec };
    delete clean.metadata.bogus;
    delete (clean.spec.rules[0]!.http.paths[0] as Record<string, unknown>).extra;
    expect(unknownFields(ingress, clean)).toEqual([]);
  });

  it('checks names as the API server does', () => {
    expect(validateName(ingress, 'good-name.example')).toBeNull();
    expect(validateName(ingress, 'Bad_Name')?.type).toBe('FieldValueInvalid');
    expect(validateName(ns, 'has.dot')?.type).toBe('FieldValueInvalid');
    expect(validateName(ingress, '')?.type).toBe('FieldValueRequired');
  });

  it('publishes fieldValidation on PATCH with the group-version-kind, as kubectl looks for it', () => {
    const doc = groupVersionDoc('networking.k8s.io', 'v1', [ingress]) as {
      paths: Record<
        string,
        { patch?: { parameters: Array<{ name: string }>; 'x-kubernetes-group-version-kind': unknown } }
      >;
    };
    const patch = doc.paths['/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}']?.patch;
    expect(patch?.['x-kubernetes-group-version-kind']).toEqual({
      group: 'networking.k8s.io',
      version: 'v1',
      kind: 'Ingress',
    });
    expect(patch?.parameters.map((p) => p.name)).toContain('fieldValidation');
  });
});
