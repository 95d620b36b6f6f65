/**
 * Child process of the ESP end-to-end benchmark (forked by bench/esp.ts):
 * encrypts with its own EspEngine (the client side of the SA) and blasts
 * ESP-in-UDP datagrams over loopback at the port the parent names, for the
 * time the parent names. Reports how many it sent.
 */
import dgram from 'node:dgram';
import type { ChildSaUp } from '../src/core/sa.js';
import { EspEngine, type EspOutbound } from '../src/esp/engine.js';

interface WireSa {
  sa: Omit<ChildSaUp, 'inbound' | 'outbound'>;
  inbound: { spi: number; encKey: string; authKey: string };
  outbound: { spi: number; encKey: string; authKey: string };
}
type Cmd = { cmd: 'setup'; sa: WireSa; size: number } | { cmd: 'blast'; port: number; ms: number } | { cmd: 'exit' };

let engine: EspEngine | null = null;
let batch: EspOutbound[] = [];

function key(k: WireSa['inbound']): ChildSaUp['inbound'] {
  return { spi: k.spi, encKey: Buffer.from(k.encKey, 'hex'), authKey: Buffer.from(k.authKey, 'hex') };
}

/** A socket connected to the target: send() then skips the per-datagram address lookup. */
function blast(port: number, ms: number): void {
  const e = engine;
  if (!e) throw new Error('not set up');
  const sock = dgram.createSocket('udp4');
  sock.connect(port, '127.0.0.1', () => {
    sock.setSendBufferSize(4 << 20);
    const end = performance.now() + ms;
    let sent = 0;
    const step = (): void => {
      for (let r = 0; r < 4; r++) {
        const { sends } = e.encryptBatch(batch, 0);
        for (const s of sends) sock.send(s.data);
        sent += sends.length;
      }
      if (performance.now() < end) setImmediate(step);
      else sock.close(() => process.send?.({ done: true, sent }));
    };
    setImmediate(step);
  });
  sock.on('error', () => {
    // ECONNREFUSED from a closed port: ignore, keep blasting
  });
}

process.on('message', (m: Cmd) => {
  if (m.cmd === 'setup') {
    engine = new EspEngine();
    engine.addSa({ ...m.sa.sa, inbound: key(m.sa.inbound), outbound: key(m.sa.outbound) } as ChildSaUp);
    const payload = Buffer.alloc(m.size, 0x5a);
    batch = Array.from({ length: 32 }, () => ({ saId: m.sa.sa.id, innerDstPort: 1701, payload }));
    process.send?.({ ready: true });
  } else if (m.cmd === 'blast') {
    blast(m.port, m.ms);
  } else {
    process.exit(0);
  }
});
