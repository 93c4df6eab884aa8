import { describe, expect, it } from 'vitest';
import { mergePatch, strategicMergePatch, type ListSemantics } from './patch.js';

const sem: ListSemantics = {
  mergeKeys: { 'spec.ports': ['port', 'protocol'], 'metadata.ownerReferences': ['uid'] },
  setLists: new Set(['metadata.finalizers']),
};

describe('merge patch (RFC 7386)', () => {
  it('follows the RFC examples', () => {
    expect(mergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(mergePatch({ a: 'b' }, { a: null })).toEqual({});
    expect(mergePatch({ a: ['b'] }, { a: 'c' })).toEqual({ a: 'c' });
    expect(mergePatch({ a: { b: 'c' } }, { a: { b: 'd', c: null } })).toEqual({ a: { b: 'd' } });
    expect(mergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(mergePatch(['a', 'b'], ['c', 'd'])).toEqual(['c', 'd']);
  });
});

describe('strategic merge patch', () => {
  const svc = {
    metadata: { finalizers: ['a'], labels: { x: '1' } },
    spec: {
      ports: [
        { port: 80, protocol: 'TCP', targetPort: 8080 },
        { port: 443, protocol: 'TCP', targetPort: 8443 },
      ],
      selector: { app: 'a' },
    },
  };

  it('merges lists with a merge key element by element', () => {
    const out = strategicMergePatch(
      svc,
      {
        spec: {
          ports: [
            { port: 80, protocol: 'TCP', targetPort: 9090 },
            { port: 8000, protocol: 'TCP' },
          ],
        },
      },
      sem,
    );
    expect(out).toMatchObject({
      spec: {
        ports: [
          { port: 80, protocol: 'TCP', targetPort: 9090 },
          { port: 443, protocol: 'TCP', targetPort: 8443 },
          { port: 8000, protocol: 'TCP' },
        ],
      },
    });
  });

  it('honours $patch delete and replace, $retainKeys, $deleteFromPrimitiveList and null', () => {
    expect(
      strategicMergePatch(svc, { spec: { ports: [{ port: 443, protocol: 'TCP', $patch: 'delete' }] } }, sem),
    ).toMatchObject({
      spec: { ports: [{ port: 80 }] },
    });
    expect(strategicMergePatch(svc, { spec: { $patch: 'replace', ports: [] } }, sem)).toEqual({
      ...svc,
      spec: { ports: [] },
    });
    expect(strategicMergePatch(svc, { spec: { $retainKeys: ['ports'], selector: null } }, sem)).toEqual({
      ...svc,
      spec: { ports: svc.spec.ports },
    });
    expect(
      strategicMergePatch(
        svc,
        { metadata: { $deleteFromPrimitiveList: undefined, '$deleteFromPrimitiveList/finalizers': ['a'] } },
        sem,
      ),
    ).toMatchObject({
      metadata: { finalizers: [] },
    });
    expect(strategicMergePatch(svc, { metadata: { labels: { x: null, y: '2' } } }, sem)).toMatchObject({
      metadata: { labels: { y: '2' } },
    });
  });

  it('unions set-like lists and replaces lists without a merge key', () => {
    expect(strategicMergePatch(svc, { metadata: { finalizers: ['b', 'a'] } }, sem)).toMatchObject({
      metadata: { finalizers: ['a', 'b'] },
    });
    const ing = { spec: { rules: [{ host: 'a' }, { host: 'b' }] } };
    expect(strategicMergePatch(ing, { spec: { rules: [{ host: 'c' }] } }, sem)).toEqual({
      spec: { rules: [{ host: 'c' }] },
    });
  });

  it('ignores $setElementOrder directives kubectl adds', () => {
    expect(
      strategicMergePatch(svc, { spec: { '$setElementOrder/ports': [{ port: 80 }, { port: 443 }] } }, sem),
    ).toEqual(svc);
  });
});
