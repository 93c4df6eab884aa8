import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { listen, parseHostPort } from './net.js';

describe('parseHostPort', () => {
  it('reads names, IPv4 and bracketed IPv6', () => {
    expect(parseHostPort('edge.example:7844', '--edge')).toEqual({ host: 'edge.example', port: 7844 });
    expect(parseHostPort('[::1]:7844', '--edge')).toEqual({ host: '::1', port: 7844 });
    expect(parseHostPort('127.0.0.1:0', '--metrics', true)).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('names the flag in its errors', () => {
    expect(() => parseHostPort('127.0.0.1', '--edge')).toThrow('--edge wants HOST:PORT, got "127.0.0.1"');
    expect(() => parseHostPort('h:0', '--edge')).toThrow('--edge: port 0 is out of range');
    expect(() => parseHostPort('h:70000', '--edge')).toThrow(/out of range/);
  });
});

describe('listen', () => {
  it('resolves with the port the system chose, and rejects when it is taken', async () => {
    const a = net.createServer();
    const at = await listen(a, { host: '127.0.0.1', port: 0 });
    expect(at.port).toBeGreaterThan(0);
    await expect(listen(net.createServer(), at)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    a.close();
  });
});
