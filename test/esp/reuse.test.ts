import { describe, expect, it } from 'vitest';
import { EspEngine } from '../../src/esp/engine.js';
import { nativeCbc, nativeHmac } from '../../src/io/udp-native.js';
import { saPair } from './helpers.js';

/**
 * encryptBatch(…, reuse = true) writes into a buffer the engine keeps (the
 * daemon's native UDP port copies the datagrams out at once): every SA of a
 * batch must get its own region of it, and what a batch returns must be
 * right when it is read before the next batch.
 */
const crypto = nativeHmac() && nativeCbc()?.cbcKey(Buffer.alloc(16)) ? { hmacBatch: nativeHmac(), cbcBatch: nativeCbc() } : undefined;

describe.skipIf(!crypto)('ESP engine, outbound buffer reused between batches', () => {
  it('several SAs in one batch, then a larger batch: each datagram opens on its peer with its own payload', () => {
    const pairs = ['aes128-sha1', 'aes256-sha256', 'aes128-sha1'].map((n, i) => saPair(n, `sa${i}`, 0x1000 + i, 0x2000 + i));
    const server = new EspEngine(crypto!);
    const clients = pairs.map((p) => {
      server.addSa(p.ours);
      const c = new EspEngine();
      c.addSa(p.theirs);
      return c;
    });
    for (const [round, count] of [
      [0, 4],
      [1, 40],
      [2, 3],
      [3, 90],
    ] as const) {
      const batch = Array.from({ length: count }, (_, i) => ({ saId: pairs[i % 3]!.ours.id, innerDstPort: 1701, payload: Buffer.alloc(100 + ((i * 97) % 1300), (round * 31 + i) & 0xff) }));
      const { sends } = server.encryptBatch(batch, 0, true);
      expect(sends).toHaveLength(count);
      // read before the next batch, as the UDP port does
      for (let k = 0; k < 3; k++) {
        const mine = sends.filter((s) => s.data.readUInt32BE(0) === pairs[k]!.ours.outbound.spi);
        const r = clients[k]!.decryptBatch(mine.map((s) => ({ data: Buffer.from(s.data), from: pairs[k]!.theirs.peer })), 0);
        expect(r.delivered.map((d) => Buffer.from(d.payload))).toEqual(batch.filter((b) => b.saId === pairs[k]!.ours.id).map((b) => b.payload));
      }
    }
  });
});
