import { createPki } from '../common/pki.js';
import { QuicListener } from '../tunnel/quic/quic-endpoint.js';

/**
 * A QUIC peer for the transport benchmark, in its own process: streams that start with 'S' are a sink
 * (answered with the byte count at the end), others are echoed.
 */
const pki = await createPki();
const listener = new QuicListener({ host: '127.0.0.1', port: 0, certPem: pki.certPem, keyPem: pki.keyPem });
const { port } = await listener.listen();
listener.on('connection', (c) => {
  c.on('stream', (s) => {
    s.on('error', () => {});
    let sink: boolean | null = null;
    let n = 0;
    s.on('data', (d: Buffer) => {
      if (sink === null) sink = d[0] === 0x53;
      if (sink) n += d.length;
      else s.write(d);
    });
    s.on('end', () => s.end(sink === true ? String(n) : undefined));
  });
});
process.stdout.write(JSON.stringify({ msg: 'quic bench server', port, ca: pki.caPem }) + '\n');
