// `npm install` runs this: builds the optional UDP batching addon (native/udp_batch.c, sendmmsg) with
// npm's own node-gyp and the headers Node was installed with. Anything that goes wrong leaves a line
// and no addon: the tunnel then sends QUIC packets through node:dgram, as it says when it starts.
// Never fails the install. Plain JavaScript: it runs before any dev dependency is there.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const say = (line) => process.stderr.write(`tunnel-ingress: ${line}\n`);

if (process.platform !== 'linux') {
  say('UDP batching (sendmmsg) is Linux only; QUIC will send with node:dgram');
  process.exit(0);
}
const candidates = [
  process.env.npm_config_node_gyp,
  process.env.npm_execpath &&
    path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  path.join(
    path.dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  ),
].filter((p) => p && existsSync(p));
if (candidates.length === 0) {
  say('node-gyp not found; QUIC will send with node:dgram');
  process.exit(0);
}
// The headers of the Node that runs this (Debian's and the official builds put them in include/node),
// so node-gyp needs no download.
const nodedir = path.resolve(path.dirname(process.execPath), '..');
const args = [candidates[0], 'rebuild', '--silent'];
if (existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const why = (r.stderr ?? '').split('\n').find((l) => /error/i.test(l)) ?? `exit ${r.status}`;
  say(`UDP batching addon not built (${why.trim()}); QUIC will send with node:dgram`);
  process.exit(0);
}
say('UDP batching addon built (QUIC sends with sendmmsg)');
