import type { Duplex } from 'node:stream';
import type { Responder } from '../../tunnel/responder.js';

/**
 * gRPC as the agent sees it: a request is gRPC by its content type (gRPC-Web carries its status in the
 * body and is plain HTTP here), and where the agent must answer a call itself it does so the gRPC
 * way, a trailers-only response, so that the client reports a status and a message rather than an
 * HTTP error.
 */
export function isGrpc(contentType: string | string[] | undefined): boolean {
  if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) return false;
  const next = contentType.charCodeAt(16);
  // application/grpc, application/grpc+proto, application/grpc;charset=…, but not application/grpc-web
  return Number.isNaN(next) || next === 43 /* + */ || next === 59; /* ; */
}

/** https://grpc.github.io/grpc/core/md_doc_statuscodes.html */
export const GRPC_UNIMPLEMENTED = 12;

/** grpc-message is percent-encoded: anything outside printable ASCII, and '%' itself. */
export function encodeGrpcMessage(message: string): string {
  return Array.from(Buffer.from(message, 'utf8'), (b) =>
    b >= 0x20 && b <= 0x7e && b !== 0x25
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
  ).join('');
}

/** A trailers-only response: status 200 and the gRPC status in the headers, no body. */
export function answerGrpc(stream: Duplex, responder: Responder, code: number, message: string): void {
  stream.on('error', () => {});
  if (stream.destroyed) return;
  responder.respond(
    stream,
    200,
    [
      'Content-Type',
      'application/grpc',
      'Grpc-Status',
      String(code),
      'Grpc-Message',
      encodeGrpcMessage(message),
    ],
    undefined,
  );
  stream.end();
}
