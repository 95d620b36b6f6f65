import { describe, expect, it } from 'vitest';
import { EspEngine } from '../../src/esp/engine.js';
import { saPair, TRANSFORMS } from './helpers.js';

describe('ESP round trip between two engines (swapped keys)', () => {
  for (const name of Object.keys(TRANSFORMS)) {
    it(name, () => {
      const { ours, theirs } = saPair(name);
      const server = new EspEngine();
      const client = new EspEngine();
      server.addSa(ours);
      client.addSa(theirs);
      const payloads = [0, 1, 13, 14, 15, 16, 17, 100, 1400].map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff));
      // client → server
      const out = client.encryptBatch(
        payloads.map((p) => ({ saId: theirs.id, innerDstPort: 1701, payload: p })),
        0,
      );
      expect(out.sends).toHaveLength(payloads.length);
      for (const s of out.sends) expect(s.to).toEqual(theirs.peer);
      const inb = server.decryptBatch(
        out.sends.map((s) => ({ data: s.data, from: ours.peer })),
        0,
      );
      expect(inb.delivered.map((d) => Buffer.from(d.payload))).toEqual(payloads.map((p) => Buffer.from(p)));
      for (const d of inb.delivered) {
        expect(d.saId).toBe(ours.id);
        expect(d.peer).toEqual(ours.peer);
        expect(d.innerSrcPort).toBe(1701);
      }
      // server → client, to the client's L2TP port... which must be 1701 for the client engine to accept
      const back = server.encryptBatch(payloads.map((p) => ({ saId: ours.id, innerDstPort: 1701, payload: p })), 0);
      const got = client.decryptBatch(back.sends.map((s) => ({ data: s.data, from: theirs.peer })), 0);
      expect(got.delivered.map((d) => Buffer.from(d.payload))).toEqual(payloads.map((p) => Buffer.from(p)));
      expect(server.stats(ours.id)).toMatchObject({ packetsIn: payloads.length, packetsOut: payloads.length });
      // the same datagrams again are replays
      const again = server.decryptBatch(out.sends.map((s) => ({ data: s.data, from: ours.peer })), 1);
      expect(again.delivered).toHaveLength(0);
    });
  }
});
