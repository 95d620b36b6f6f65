/** What the UDP tests (udp.test.ts, udp-native.test.ts) share: a loopback peer, polling, endpoints on free ports. */
import dgram from 'node:dgram';
import { UdpEndpoints, type UdpEndpointsOptions, type UdpHandlers } from '../../src/io/udp.js';

/** A dgram socket on 127.0.0.1 (an ephemeral port) collecting what it receives; pushed to `sockets` for closing. */
export async function loopbackPeer(sockets: dgram.Socket[]): Promise<{ s: dgram.Socket; got: Buffer[]; port: number }> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { s, got, port: s.address().port };
}

/** Polls cond every 5 ms; throws after ms. */
export async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** UdpEndpoints started on a random free port pair (IKE port, NAT-T port + 1); pushed to `opened` for closing. */
export async function startOnFreePorts(
  options: Omit<UdpEndpointsOptions, 'ikePort' | 'nattPort'>,
  handlers: UdpHandlers,
  opened: UdpEndpoints[],
): Promise<UdpEndpoints> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 20000);
    const u = new UdpEndpoints({ ...options, ikePort: base, nattPort: base + 1 }, handlers);
    try {
      await u.start();
      opened.push(u);
      return u;
    } catch {
      // port taken: try another
    }
  }
  throw new Error('no free port pair');
}
