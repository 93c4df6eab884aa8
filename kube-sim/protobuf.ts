import { ApiError } from './status.js';

/**
 * Request bodies in Kubernetes' protobuf encoding, which `kubectl create configmap|secret|namespace|
 * service|ingress` sends (Content-Type application/vnd.kubernetes.protobuf): the 4-byte magic `k8s\0`,
 * then a runtime.Unknown holding the TypeMeta and the object's own protobuf. Decoded here into the
 * JSON form the rest of kube-sim works with, for those kinds only, from the field numbers of
 * k8s.io/api's and k8s.io/apimachinery's generated.proto. Answers stay JSON, which kubectl accepts
 * too. A kind without a schema here is refused with 415, as before.
 */
type Scalar = 'string' | 'int' | 'bool' | 'bytes';
interface FieldSpec {
  name: string;
  type: Scalar | Schema | 'map<string,string>' | 'map<string,bytes>' | 'intOrString' | 'time';
  repeated?: boolean;
}
type Schema = Record<number, FieldSpec>;

const f = (name: string, type: FieldSpec['type'], repeated = false): FieldSpec => ({ name, type, repeated });

const OWNER_REFERENCE: Schema = {
  5: f('apiVersion', 'string'),
  1: f('kind', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  6: f('controller', 'bool'),
  7: f('blockOwnerDeletion', 'bool'),
};
const OBJECT_META: Schema = {
  1: f('name', 'string'),
  2: f('generateName', 'string'),
  3: f('namespace', 'string'),
  5: f('uid', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('generation', 'int'),
  8: f('creationTimestamp', 'time'),
  11: f('labels', 'map<string,string>'),
  12: f('annotations', 'map<string,string>'),
  13: f('ownerReferences', OWNER_REFERENCE, true),
  14: f('finalizers', 'string', true),
};
const SERVICE_PORT: Schema = {
  1: f('name', 'string'),
  2: f('protocol', 'string'),
  6: f('appProtocol', 'string'),
  3: f('port', 'int'),
  4: f('targetPort', 'intOrString'),
  5: f('nodePort', 'int'),
};
const SERVICE_SPEC: Schema = {
  1: f('ports', SERVICE_PORT, true),
  2: f('selector', 'map<string,string>'),
  3: f('clusterIP', 'string'),
  18: f('clusterIPs', 'string', true),
  4: f('type', 'string'),
  5: f('externalIPs', 'string', true),
  7: f('sessionAffinity', 'string'),
  10: f('externalName', 'string'),
  11: f('externalTrafficPolicy', 'string'),
  13: f('publishNotReadyAddresses', 'bool'),
  19: f('ipFamilies', 'string', true),
  17: f('ipFamilyPolicy', 'string'),
  22: f('internalTrafficPolicy', 'string'),
};
const TYPED_LOCAL_REF: Schema = {
  1: f('apiGroup', 'string'),
  2: f('kind', 'string'),
  3: f('name', 'string'),
};
const INGRESS_BACKEND: Schema = {
  4: f('service', {
    1: f('name', 'string'),
    2: f('port', { 1: f('name', 'string'), 2: f('number', 'int') }),
  }),
  3: f('resource', TYPED_LOCAL_REF),
};
const INGRESS_SPEC: Schema = {
  4: f('ingressClassName', 'string'),
  1: f('defaultBackend', INGRESS_BACKEND),
  2: f('tls', { 1: f('hosts', 'string', true), 2: f('secretName', 'string') }, true),
  3: f(
    'rules',
    {
      1: f('host', 'string'),
      // IngressRuleValue is inlined in JSON: its one field, http, sits on the rule itself.
      2: f('', {
        1: f('http', {
          1: f(
            'paths',
            { 1: f('path', 'string'), 3: f('pathType', 'string'), 2: f('backend', INGRESS_BACKEND) },
            true,
          ),
        }),
      }),
    },
    true,
  ),
};

const KINDS: Record<string, Schema> = {
  ConfigMap: {
    1: f('metadata', OBJECT_META),
    4: f('immutable', 'bool'),
    2: f('data', 'map<string,string>'),
    3: f('binaryData', 'map<string,bytes>'),
  },
  Secret: {
    1: f('metadata', OBJECT_META),
    5: f('immutable', 'bool'),
    2: f('data', 'map<string,bytes>'),
    4: f('stringData', 'map<string,string>'),
    3: f('type', 'string'),
  },
  Namespace: { 1: f('metadata', OBJECT_META), 2: f('spec', { 1: f('finalizers', 'string', true) }) },
  Service: { 1: f('metadata', OBJECT_META), 2: f('spec', SERVICE_SPEC) },
  Ingress: { 1: f('metadata', OBJECT_META), 2: f('spec', INGRESS_SPEC) },
};
const UNKNOWN: Schema = {
  1: f('typeMeta', { 1: f('apiVersion', 'string'), 2: f('kind', 'string') }),
  2: f('raw', 'bytes'),
};

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

function bad(message: string): ApiError {
  return new ApiError(400, 'BadRequest', `the body of the request could not be decoded: ${message}`);
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw bad('a varint runs past the end');
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw bad('a varint is too long');
  }

  bytes(): Buffer {
    const n = Number(this.varint());
    if (n < 0 || this.pos + n > this.buf.length) throw bad('a field runs past the end');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytes();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else throw bad(`wire type ${wire} is not supported`);
    if (this.pos > this.buf.length) throw bad('a field runs past the end');
  }
}

function decodeMap(buf: Buffer, bytesValue: boolean): [string, string] {
  const r = new Reader(buf);
  let key = '';
  let value = '';
  while (!r.done) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    if ((tag & 7) !== 2) {
      r.skip(tag & 7);
      continue;
    }
    const b = r.bytes();
    if (field === 1) key = b.toString('utf8');
    else if (field === 2) value = bytesValue ? b.toString('base64') : b.toString('utf8');
  }
  return [key, value];
}

function decodeMessage(buf: Buffer, schema: Schema, depth = 0): Record<string, unknown> {
  if (depth > 16) throw bad('messages nest too deeply');
  const out: Record<string, unknown> = {};
  const r = new Reader(buf);
  while (!r.done) {
    const tag = Number(r.varint());
    const wire = tag & 7;
    const spec = schema[tag >>> 3];
    if (spec === undefined) {
      r.skip(wire);
      continue;
    }
    let value: unknown;
    const t = spec.type;
    if (t === 'int' || t === 'bool') {
      if (wire !== 0) throw bad(`${spec.name} is not a varint`);
      const v = r.varint();
      value = t === 'bool' ? v !== 0n : Number(BigInt.asIntN(64, v));
    } else {
      if (wire !== 2) throw bad(`${spec.name || 'a field'} is not length-delimited`);
      const b = r.bytes();
      if (t === 'string') value = b.toString('utf8');
      else if (t === 'bytes') value = b;
      else if (t === 'map<string,string>' || t === 'map<string,bytes>') {
        const [k, v] = decodeMap(b, t === 'map<string,bytes>');
        const m = (out[spec.name] ??= {}) as Record<string, string>;
        m[k] = v;
        continue;
      } else if (t === 'intOrString') {
        const v = decodeMessage(
          b,
          { 1: f('type', 'int'), 2: f('intVal', 'int'), 3: f('strVal', 'string') },
          depth + 1,
        );
        value = v.type === 1 ? (v.strVal ?? '') : (v.intVal ?? 0);
      } else if (t === 'time') {
        const v = decodeMessage(b, { 1: f('seconds', 'int') }, depth + 1);
        value = new Date(Number(v.seconds ?? 0) * 1000).toISOString().replace('.000Z', 'Z');
      } else {
        value = decodeMessage(b, t, depth + 1);
        if (spec.name === '') {
          Object.assign(out, value);
          continue;
        }
      }
    }
    if (spec.repeated === true) ((out[spec.name] ??= []) as unknown[]).push(value);
    // Go's encoder writes the zero values of non-pointer fields ("" and 0); its JSON omits them.
    else if (value !== '' && value !== 0 && value !== false) out[spec.name] = value;
  }
  return out;
}

/** The JSON form of a protobuf request body, for the kinds kubectl's create subcommands send. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC))
    throw bad('a protobuf body must start with the k8s magic');
  const unknown = decodeMessage(body.subarray(MAGIC.length), UNKNOWN);
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const kind = typeMeta.kind ?? '';
  const schema = KINDS[kind];
  if (schema === undefined)
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `kube-sim decodes protobuf for ${Object.keys(KINDS).join(', ')} only; send ${kind || 'this object'} as application/json`,
    );
  const raw = (unknown.raw as Buffer | undefined) ?? Buffer.alloc(0);
  return { apiVersion: typeMeta.apiVersion, kind, ...decodeMessage(raw, schema) };
}
