import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DROP_REASONS, Forwarder, isMartianDestination } from '../../src/nat/forwarder.js';
import { parseIPv4 } from '../../src/core/ipv4.js';
import { ACK, icmpEcho, ipv4, mssOption, readMss, refChecksum, refOnesSum, refTcpChecksum, RST, SYN, tcp } from './packets.js';

const POOL = '10.40.0.0/24';
const A = '10.40.0.2';
const B = '10.40.0.3';

function fwd(mss?: number): Forwarder {
  const f = new Forwarder(mss === undefined ? { pool: POOL, mtu: 1400 } : { pool: POOL, mss });
  f.addSession('sA', A);
  f.addSession('sB', B);
  return f;
}

function headerOk(p: Uint8Array): boolean {
  const hlen = (p[0]! & 0x0f) * 4;
  return refOnesSum(p.subarray(0, hlen)) === 0xffff;
}

describe('packet helpers (sanity of the independent checksum)', () => {
  it('RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to ddf2', () => {
    expect(refOnesSum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0xddf2);
    expect(refChecksum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0x220d);
  });
  it('builds headers that verify', () => {
    expect(headerOk(icmpEcho(A, '8.8.8.8', 1, 1))).toBe(true);
  });
});

describe('Forwarder.fromClient', () => {
  it('passes a valid packet from the session address, unchanged', () => {
    const f = fwd();
    const p = icmpEcho(A, '8.8.8.8', 7, 1);
    const copy = Buffer.from(p);
    const r = f.fromClient('sA', p);
    expect(r).toEqual({ ok: true, packet: copy });
    expect(f.counters.get('forward.fromClient')).toBe(1);
  });

  it('trims link padding after Total Length (a view of the same bytes)', () => {
    const f = fwd();
    const p = ipv4({ src: A, dst: '1.1.1.1', proto: 17, payload: Buffer.alloc(12), padding: 6 });
    const r = f.fromClient('sA', p);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.packet.length).toBe(32);
      expect(r.packet.buffer).toBe(p.buffer);
    }
  });

  it("drops a source that is not the session's IPCP address (anti-spoofing)", () => {
    const f = fwd();
    expect(f.fromClient('sA', icmpEcho(B, '8.8.8.8', 1, 1))).toEqual({ ok: false, reason: 'spoofed-source' });
    expect(f.fromClient('sA', icmpEcho('192.168.1.5', '8.8.8.8', 1, 1))).toEqual({ ok: false, reason: 'spoofed-source' });
    expect(f.fromClient('sB', icmpEcho(B, '8.8.8.8', 1, 1)).ok).toBe(true);
    expect(f.drops('spoofed-source')).toBe(2);
  });

  it('drops packets of a session with no address', () => {
    const f = fwd();
    expect(f.fromClient('nobody', icmpEcho(A, '8.8.8.8', 1, 1))).toEqual({ ok: false, reason: 'unknown-session' });
  });

  const martians = ['0.0.0.0', '0.1.2.3', '127.0.0.1', '127.255.255.254', '169.254.169.254', '224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255', '10.40.0.0', '10.40.0.255'];
  it.each(martians)('drops martian destination %s', (dst) => {
    const f = fwd();
    expect(f.fromClient('sA', icmpEcho(A, dst, 1, 1))).toEqual({ ok: false, reason: 'martian-destination' });
    expect(f.drops('martian-destination')).toBe(1);
  });

  const fine = ['8.8.8.8', '10.40.0.1', '10.40.0.3', '169.253.1.1', '169.255.0.1', '223.255.255.255', '1.0.0.0', '126.255.255.255', '128.0.0.1'];
  it.each(fine)('forwards destination %s', (dst) => {
    expect(fwd().fromClient('sA', icmpEcho(A, dst, 1, 1)).ok).toBe(true);
  });

  it('isMartianDestination agrees with the prefix list on random addresses', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
        const o1 = a >>> 24;
        const o2 = (a >>> 16) & 255;
        const expected = o1 === 0 || o1 === 127 || (o1 === 169 && o2 === 254) || o1 >= 224;
        expect(isMartianDestination(a)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  describe('malformed headers', () => {
    const good = (): Buffer => icmpEcho(A, '8.8.8.8', 1, 1);
    const cases: Array<[string, () => Buffer, string]> = [
      ['empty', () => Buffer.alloc(0), 'truncated'],
      ['19 bytes', () => good().subarray(0, 19), 'truncated'],
      ['IPv6 version nibble', () => { const p = good(); p[0] = 0x65; return p; }, 'not-ipv4'],
      ['IHL 4', () => { const p = good(); p[0] = 0x44; return p; }, 'bad-header-length'],
      ['IHL 15 beyond a 40-byte packet', () => { const p = good(); p[0] = 0x4f; return p; }, 'bad-header-length'],
      ['Total Length 19', () => { const p = good(); p.writeUInt16BE(19, 2); return p; }, 'bad-total-length'],
      ['Total Length beyond the buffer', () => { const p = good(); p.writeUInt16BE(p.length + 1, 2); return p; }, 'bad-total-length'],
      ['bad header checksum', () => { const p = good(); p[10]! ^= 0x01; return p; }, 'bad-header-checksum'],
    ];
    it.each(cases)('%s → %s', (_n, make, reason) => {
      const f = fwd();
      expect(f.fromClient('sA', make())).toEqual({ ok: false, reason });
      expect(f.toClient(make())).toBeUndefined();
      expect(f.counters.get(`drop.${reason}`)).toBe(2);
    });
  });

  it('accepts a header with IPv4 options (IHL 6)', () => {
    const p = ipv4({ src: A, dst: '8.8.8.8', proto: 17, payload: Buffer.alloc(8), options: Uint8Array.from([1, 1, 1, 0]) });
    expect(fwd().fromClient('sA', p).ok).toBe(true);
  });
});

describe('MSS clamping', () => {
  it('clamps a SYN MSS of 1460 to mtu - 40 = 1360 and the TCP checksum still verifies', () => {
    const f = fwd();
    const p = tcp({ src: A, dst: '93.184.216.34', flags: SYN, options: [...mssOption(1460), 1, 3, 3, 7, 4, 2] });
    const r = f.fromClient('sA', p);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(readMss(r.packet)).toBe(1360);
    expect(r.packet.readUInt16BE(36)).toBe(refTcpChecksum(r.packet));
    expect(headerOk(r.packet)).toBe(true);
    expect(f.counters.get('mss.clamped')).toBe(1);
  });

  it('clamps an MSS option at an odd offset (after one NOP) correctly', () => {
    const p = tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: [1, ...mssOption(1460), 1, 1, 1] });
    const r = fwd().fromClient('sA', p);
    expect(r.ok && readMss(r.packet)).toBe(1360);
    if (r.ok) expect(r.packet.readUInt16BE(36)).toBe(refTcpChecksum(r.packet));
  });

  it('leaves a smaller MSS, non-SYN segments and malformed option lists alone', () => {
    const f = fwd();
    const cases = [
      tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: mssOption(1200) }),
      tcp({ src: A, dst: '8.8.8.8', flags: ACK, options: mssOption(1460) }),
      tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: [8, 0, ...mssOption(1460)] }),
      tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: [0, ...mssOption(1460)] }),
      tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: [2, 3, 5, 0xb4] }),
    ];
    for (const p of cases) {
      const before = Buffer.from(p);
      const r = f.fromClient('sA', p);
      expect(r).toEqual({ ok: true, packet: before });
    }
    expect(f.counters.get('mss.clamped')).toBe(0);
  });

  it('clamps SYN|RST too, and honours an explicit mss; mss 0 disables clamping', () => {
    const p1 = tcp({ src: A, dst: '8.8.8.8', flags: SYN | RST, options: mssOption(9000) });
    const r1 = fwd(1000).fromClient('sA', p1);
    expect(r1.ok && readMss(r1.packet)).toBe(1000);
    const p2 = tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: mssOption(9000) });
    const r2 = fwd(0).fromClient('sA', p2);
    expect(r2.ok && readMss(r2.packet)).toBe(9000);
  });

  it('clamps the SYN-ACK coming back in toClient', () => {
    const f = fwd();
    const p = tcp({ src: '93.184.216.34', dst: B, flags: SYN | ACK, options: mssOption(1460) });
    const r = f.toClient(p);
    expect(r?.sessionKey).toBe('sB');
    expect(r && readMss(r.packet)).toBe(1360);
    expect(r?.packet.readUInt16BE(36)).toBe(refTcpChecksum(r!.packet));
  });

  it('fragments: a first fragment is clamped, later fragments pass untouched, offset 1 is dropped', () => {
    const f = fwd();
    const first = tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: mssOption(1460), payload: Buffer.alloc(16, 7), frag: 0x2000 });
    const r1 = f.fromClient('sA', first);
    expect(r1.ok && readMss(r1.packet)).toBe(1360);
    // A non-first fragment whose payload happens to look like a TCP SYN header.
    const later = tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: mssOption(1460), frag: 185 });
    const before = Buffer.from(later);
    expect(f.fromClient('sA', later)).toEqual({ ok: true, packet: before });
    const tiny = tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: mssOption(1460), frag: 1 });
    expect(f.fromClient('sA', tiny)).toEqual({ ok: false, reason: 'tiny-fragment' });
    // A first fragment (MF) that cuts the TCP header (RFC 1858).
    const cut = ipv4({ src: A, dst: '8.8.8.8', proto: 6, payload: Buffer.alloc(8), frag: 0x2000 });
    expect(f.fromClient('sA', cut)).toEqual({ ok: false, reason: 'tiny-fragment' });
    // Non-TCP fragments are not inspected.
    const udpFrag = ipv4({ src: A, dst: '8.8.8.8', proto: 17, payload: Buffer.alloc(4), frag: 1 });
    expect(f.fromClient('sA', udpFrag).ok).toBe(true);
  });

  it('property: any SYN with an MSS option ends with min(mss, 1360) and a checksum equal to a full recomputation', () => {
    const opt = fc.oneof(
      fc.constant([1]),
      fc.constantFrom([3, 3, 7], [4, 2], [8, 10, 1, 2, 3, 4, 5, 6, 7, 8]),
    );
    fc.assert(
      fc.property(
        fc.array(opt, { maxLength: 4 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.array(opt, { maxLength: 3 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.boolean(),
        (pre, mss, post, payload, down) => {
          const options = [...pre.flat(), ...mssOption(mss), ...post.flat()];
          if (options.length > 40) return;
          const f = fwd();
          const p = down
            ? tcp({ src: '8.8.4.4', dst: A, flags: SYN | ACK, options, payload })
            : tcp({ src: A, dst: '8.8.4.4', flags: SYN, options, payload });
          const out = down ? f.toClient(p)?.packet : (() => { const r = f.fromClient('sA', p); return r.ok ? r.packet : undefined; })();
          expect(out).toBeDefined();
          expect(readMss(out!)).toBe(Math.min(mss, 1360));
          expect(out!.readUInt16BE(36)).toBe(refTcpChecksum(out!));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Forwarder.toClient and sessions', () => {
  it('delivers by destination address and counts packets for nobody', () => {
    const f = fwd();
    expect(f.toClient(icmpEcho('8.8.8.8', A, 1, 1))?.sessionKey).toBe('sA');
    expect(f.toClient(icmpEcho('8.8.8.8', B, 1, 1))?.sessionKey).toBe('sB');
    expect(f.toClient(icmpEcho('8.8.8.8', '10.40.0.9', 1, 1))).toBeUndefined();
    expect(f.drops('no-session')).toBe(1);
  });

  it('removeSession stops delivery; re-adding a session moves its address; a taken address throws', () => {
    const f = fwd();
    f.removeSession('sA');
    expect(f.toClient(icmpEcho('8.8.8.8', A, 1, 1))).toBeUndefined();
    expect(f.fromClient('sA', icmpEcho(A, '8.8.8.8', 1, 1))).toEqual({ ok: false, reason: 'unknown-session' });
    f.addSession('sB', '10.40.0.7');
    expect(f.toClient(icmpEcho('8.8.8.8', B, 1, 1))).toBeUndefined();
    expect(f.toClient(icmpEcho('8.8.8.8', '10.40.0.7', 1, 1))?.sessionKey).toBe('sB');
    expect(() => f.addSession('sC', '10.40.0.7')).toThrow(/already belongs to session sB/);
    f.addSession('sC', parseIPv4(A));
    expect(f.toClient(icmpEcho('8.8.8.8', A, 1, 1))?.sessionKey).toBe('sC');
    expect(f.sessionCount).toBe(2);
  });

  it('dropEvent is rate-limited per reason and reports suppressed counts', () => {
    const f = fwd();
    const seen = [];
    for (let i = 0; i < 8; i++) seen.push(f.dropEvent('spoofed-source', 'sA', 1000));
    expect(seen.filter((e) => e !== undefined)).toHaveLength(5);
    expect(seen[0]).toMatchObject({ type: 'log', event: 'nat.drop', fields: { reason: 'spoofed-source', session: 'sA' } });
    const later = f.dropEvent('spoofed-source', 'sA', 20_000);
    expect(later?.fields).toMatchObject({ suppressed: 3 });
  });
});

describe('fuzz: nothing throws', () => {
  const reasons = Object.keys(DROP_REASONS);
  it('arbitrary bytes', () => {
    const f = fwd();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.constantFrom('sA', 'sB', 'x'), (bytes, key) => {
        const r = f.fromClient(key, Buffer.from(bytes));
        if (!r.ok) expect(reasons).toContain(r.reason);
        const d = f.toClient(Buffer.from(bytes));
        if (d) expect(['sA', 'sB']).toContain(d.sessionKey);
      }),
      { numRuns: 500 },
    );
  });

  it('valid packets with random byte mutations (headers, options, lengths)', () => {
    const f = fwd();
    const seeds = [
      tcp({ src: A, dst: '8.8.8.8', flags: SYN, options: [1, ...mssOption(1460), 4, 2, 1, 3, 3, 7] }),
      tcp({ src: '8.8.8.8', dst: A, flags: SYN | ACK, options: mssOption(1460) }),
      icmpEcho(A, '8.8.8.8', 1, 2),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat({ max: 80 }),
        (seed, muts, cut) => {
          const p = Buffer.from(seed.subarray(0, Math.max(0, seed.length - (cut % 8))));
          for (const [at, v] of muts) if (p.length) p[at % p.length] = v;
          const r = f.fromClient('sA', p);
          if (r.ok) expect(r.packet.length).toBeLessThanOrEqual(p.length);
          f.toClient(Buffer.from(p));
        },
      ),
      { numRuns: 500 },
    );
  });
});
