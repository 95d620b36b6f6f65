/**
 * Outbound full path (`npm run bench -- esp`, the `path` rows): an IPv4 packet
 * read from the TUN to the ESP datagram handed to the UDP port, through the
 * forwarder, PPP and L2TP, for a client connected through the real pipeline
 * (src/session) — against the previous path, kept here only as a baseline:
 * PPP framing into a new buffer, the L2TP data header into another, then the
 * same ESP batch encryption.
 */
import { randomBytes } from 'node:crypto';
import type { ChildSaUp, EspTransform } from '../src/core/sa.js';
import { EspEngine, type EspOutbound } from '../src/esp/engine.js';
import { Forwarder } from '../src/nat/forwarder.js';
import { resolveTransform } from '../src/esp/transforms.js';
import { INTERNET, World, ipv4 } from '../test/session/harness.js';

export interface PathRow {
  direction: 'outbound';
  transform: string;
  size: number;
  /** Packets per CPU-second through Pipeline.tunPackets. */
  pps: number;
  /** The same packets through the previous copy-per-layer path. */
  baseline_pps: number;
  ratio: number;
  gbps: number;
}

type Timed = (ms: number, fn: () => number) => { cpu: number; wall: number };

/** The old path, step for step: forwarder lookup, encapsulateIpv4 (alloc+copy), sendPpp (alloc+copy), encryptBatch. */
function baselineFn(t: EspTransform, packets: Buffer[], address: string): () => number {
  const spec = resolveTransform(t);
  const sa: ChildSaUp = {
    type: 'child-sa-up',
    id: 'baseline',
    ikeSaId: 'ike',
    peer: { address: '203.0.113.77', port: 4500 },
    local: { address: '198.51.100.1', port: 4500 },
    encapsulation: 'udp',
    transform: t,
    inbound: { spi: 0x3001, encKey: randomBytes(spec.keyLen + spec.saltLen), authKey: randomBytes(spec.hashLen) },
    outbound: { spi: 0x3002, encKey: randomBytes(spec.keyLen + spec.saltLen), authKey: randomBytes(spec.hashLen) },
    lifetimeSeconds: 3600,
  };
  const esp = new EspEngine();
  esp.addSa(sa);
  const fwd = new Forwarder({ pool: '10.40.0.0/24', mss: 0 });
  fwd.addSession('203.0.113.77:4500/1701/1/1', address);
  const sessions = new Map([['203.0.113.77:4500/1701/1/1', { peerTunnelId: 7, peerSessionId: 9 }]]);
  return () => {
    const batch: EspOutbound[] = [];
    for (const p of packets) {
      const r = fwd.toClient(p);
      if (!r) throw new Error('baseline: no session');
      const s = sessions.get(r.sessionKey)!;
      const frame = Buffer.alloc(4 + r.packet.length);
      frame[0] = 0xff;
      frame[1] = 0x03;
      frame[3] = 0x21;
      frame.set(r.packet, 4);
      const data = Buffer.alloc(8 + frame.length);
      data.set(frame, 8);
      data.writeUInt16BE(0x4002, 0);
      data.writeUInt16BE(data.length, 2);
      data.writeUInt16BE(s.peerTunnelId, 4);
      data.writeUInt16BE(s.peerSessionId, 6);
      batch.push({ saId: 'baseline', innerDstPort: 1701, payload: data });
    }
    return esp.encryptBatch(batch, 0).sends.length;
  };
}

export function benchPath(name: string, t: EspTransform, size: number, batchSize: number, rounds: number, sliceMs: number, timed: Timed): PathRow {
  const esp = t.cipher === 'aes-gcm-16' ? undefined : t.keyBits === 256 ? { cipher: 'aes256' as const, auth: 'sha256' as const } : { cipher: 'aes128' as const, auth: 'sha1' as const };
  if (!esp) throw new Error('path bench: CBC transforms only');
  const w = new World();
  const c = w.client({ user: 'alice', password: 'alice password', esp: { ...esp, ids: 'udp1701' } });
  if (!c.connect()) throw new Error('path bench: the client did not connect');
  w.countOnly = true;
  const packets = Array.from({ length: batchSize }, () => ipv4(INTERNET, c.ppp.address, randomBytes(size - 20)));
  const oursFn = (): number => {
    const before = w.counted;
    w.pipeline.tunPackets(packets, w.now);
    const n = w.counted - before;
    if (n !== batchSize) throw new Error(`path bench: ${n} datagrams for ${batchSize} packets`);
    return n;
  };
  const base = baselineFn(t, packets, c.ppp.address);
  timed(30, oursFn);
  timed(30, base);
  let ours = 0;
  let baseline = 0;
  for (let r = 0; r < rounds; r++) {
    baseline = Math.max(baseline, timed(sliceMs, base).cpu);
    ours = Math.max(ours, timed(sliceMs, oursFn).cpu);
  }
  return {
    direction: 'outbound',
    transform: name,
    size,
    pps: Math.round(ours),
    baseline_pps: Math.round(baseline),
    ratio: Math.round((ours / baseline) * 100) / 100,
    gbps: Math.round(((ours * size * 8) / 1e9) * 1000) / 1000,
  };
}
