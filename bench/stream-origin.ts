import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { startGrpcServer } from '../test/helpers/grpc-echo.js';

/**
 * The origins of the streaming benchmarks, in a process of their own (10,000 websockets need their
 * own file descriptors): a websocket echo server, a server-sent events endpoint that stamps each event
 * with the wall clock, and a gRPC echo server (h2c). Prints one JSON line with the ports.
 */
const server = http.createServer((req, res) => {
  if (req.url?.startsWith('/events') === true) {
    const every = Number(new URL(req.url, 'http://x').searchParams.get('every') ?? '20');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    const timer = setInterval(() => res.write(`data: ${Date.now()}\n\n`), every);
    res.on('close', () => clearInterval(timer));
    return;
  }
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
server.listen(0, '127.0.0.1', async () => {
  const grpc = await startGrpcServer();
  process.stdout.write(
    JSON.stringify({
      msg: 'stream origin listening',
      port: (server.address() as AddressInfo).port,
      grpcPort: grpc.port,
    }) + '\n',
  );
});
