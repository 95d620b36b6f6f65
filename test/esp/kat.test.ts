/** Known-answer tests: RFC 3602 §4 (AES-CBC), RFC 2202 / RFC 4231 (HMAC, truncated per RFC 2404 / RFC 4868), AES-GCM against @noble/ciphers. */
import { createHmac } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import { decryptCbcSpan } from '../../src/esp/cbc-batch.js';
import { EspEngine } from '../../src/esp/engine.js';
import { PreparedHmac } from '../../src/esp/hmac.js';
import { resolveTransform } from '../../src/esp/transforms.js';
import { craft, specOf } from './craft.js';
import { saPair } from './helpers.js';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 3602 §4, cases #1-#4.
const RFC3602 = [
  { key: '06a9214036b8a15b512e03d534120006', iv: '3dafba429d9eb430b422da802c9fac41', pt: Buffer.from('Single block msg'), ct: 'e353779c1079aeb82708942dbe77181a' },
  {
    key: 'c286696d887c9aa0611bbb3e2025a45a',
    iv: '562e17996d093d28ddb3ba695a2e6f58',
    pt: h('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'),
    ct: 'd296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1',
  },
  {
    key: '6c3ea0477630ce21a2ce334aa746c2cd',
    iv: 'c782dc4c098c66cbd9cd27d825682c81',
    pt: Buffer.from('This is a 48-byte message (exactly 3 AES blocks)'),
    ct: 'd0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684',
  },
  {
    key: '56e47a38c5598974bc46903dba290349',
    iv: '8ce82eefbea0da3c44699ed7db51b7d9',
    pt: h('a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf'),
    ct: 'c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55',
  },
];

describe('AES-CBC batch span decryption, RFC 3602 §4 test vectors', () => {
  for (const [i, v] of RFC3602.entries()) {
    it(`case #${i + 1} alone`, () => {
      const buf = Buffer.concat([h(v.iv), h(v.ct)]);
      const out = decryptCbcSpan('aes-128-cbc', h(v.key), 16, buf, 0, buf.length);
      expect(out.subarray(16)).toEqual(v.pt);
    });
  }
  it('case #4 twice in one span with a garbage gap: each record decrypts independently', () => {
    // Same key is needed for one span: use case #4's key for two records, with a garbage gap between them.
    const v = RFC3602[3]!;
    const gap = Buffer.alloc(48, 0xa5);
    const buf = Buffer.concat([h(v.iv), h(v.ct), gap, h(v.iv), h(v.ct)]);
    const out = decryptCbcSpan('aes-128-cbc', h(v.key), 16, buf, 0, buf.length);
    expect(out.subarray(16, 80)).toEqual(v.pt);
    expect(out.subarray(80 + 48 + 16)).toEqual(v.pt);
  });
});

describe('HMAC truncation known answers', () => {
  const hiThere = Buffer.from('Hi There');
  const jefe = Buffer.from('Jefe');
  const what = Buffer.from('what do ya want for nothing?');
  const cases = [
    // RFC 2202 §3 test cases 1 and 2 (HMAC-SHA-1), truncated to 96 bits (RFC 2404)
    { hash: 'sha1', key: Buffer.alloc(20, 0x0b), data: hiThere, mac: 'b617318655057264e28bc0b6fb378c8ef146be00', icv: 12, block: 64, len: 20 },
    { hash: 'sha1', key: jefe, data: what, mac: 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79', icv: 12, block: 64, len: 20 },
    // RFC 4231 §4.2 and §4.3 (HMAC-SHA-256), truncated to 128 bits (RFC 4868 §2.1)
    { hash: 'sha256', key: Buffer.alloc(20, 0x0b), data: hiThere, mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7', icv: 16, block: 64, len: 32 },
    { hash: 'sha256', key: jefe, data: what, mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843', icv: 16, block: 64, len: 32 },
  ];
  for (const c of cases) {
    it(`${c.hash} ${c.key.length}-byte key: PreparedHmac matches the RFC value and its truncation`, () => {
      const p = new PreparedHmac(c.hash, c.key, c.block, c.len);
      const buf = Buffer.concat([Buffer.alloc(c.block), c.data]);
      const mac = p.digestWithHeadroom(buf, c.block, buf.length);
      expect(mac.toString('hex')).toBe(c.mac);
      expect(mac.subarray(0, c.icv).toString('hex')).toBe(c.mac.slice(0, c.icv * 2));
    });
  }
  it('PreparedHmac equals createHmac for every ESP integrity algorithm, key lengths across the block size', () => {
    for (const [hash, block, len] of [
      ['sha1', 64, 20],
      ['sha256', 64, 32],
      ['sha384', 128, 48],
      ['sha512', 128, 64],
      ['md5', 64, 16],
    ] as const) {
      for (const klen of [1, 20, 64, 65, 129, 200]) {
        const key = Buffer.alloc(klen, klen);
        const data = Buffer.from(`message ${hash} ${klen}`);
        const p = new PreparedHmac(hash, key, block, len);
        const buf = Buffer.concat([Buffer.alloc(block, 0xee), data]);
        expect(p.digestWithHeadroom(buf, block, buf.length)).toEqual(createHmac(hash, key).update(data).digest());
      }
    }
  });
});

describe('AES-GCM-16 (RFC 4106) checked with @noble/ciphers', () => {
  for (const name of ['aes128gcm16', 'aes256gcm16']) {
    it(`${name}: engine output opens with noble (nonce = salt|IV, AAD = SPI|seq), noble output opens with the engine`, () => {
      const { ours, theirs } = saPair(name);
      const spec = specOf(ours);
      const e = new EspEngine();
      e.addSa(ours);
      const payload = Buffer.from('L2TP bytes for GCM');
      const [send] = e.encryptBatch([{ saId: ours.id, innerDstPort: 1701, payload }], 0).sends;
      const d = send!.data;
      expect(d.readUInt32BE(0)).toBe(ours.outbound.spi);
      expect(d.readUInt32BE(4)).toBe(1);
      const k = ours.outbound.encKey;
      const nonce = Buffer.concat([k.subarray(spec.keyLen), d.subarray(8, 16)]);
      const pt = Buffer.from(gcm(k.subarray(0, spec.keyLen), nonce, d.subarray(0, 8)).decrypt(d.subarray(16)));
      expect(pt.readUInt16BE(0)).toBe(1701);
      expect(pt.readUInt16BE(2)).toBe(1701);
      expect(pt.subarray(8, 8 + payload.length)).toEqual(payload);
      expect(pt[pt.length - 1]).toBe(17);
      expect(pt.length % 4).toBe(0);
      // noble-built packet → engine
      const ki = ours.inbound.encKey;
      const iv = Buffer.from('0102030405060708', 'hex');
      const hdr = Buffer.alloc(8);
      hdr.writeUInt32BE(ours.inbound.spi, 0);
      hdr.writeUInt32BE(7, 4);
      const inner = Buffer.concat([Buffer.from([0x06, 0xa5, 0x06, 0xa5, 0, 12, 0, 0]), Buffer.from('abcd'), Buffer.from([1, 2, 2, 17])]);
      const sealed = gcm(ki.subarray(0, spec.keyLen), Buffer.concat([ki.subarray(spec.keyLen), iv]), hdr).encrypt(inner);
      const r = e.decryptBatch([{ data: Buffer.concat([hdr, iv, sealed]), from: ours.peer }], 0);
      expect(r.delivered).toHaveLength(1);
      expect(Buffer.from(r.delivered[0]!.payload).toString()).toBe('abcd');
      expect(r.delivered[0]!.innerSrcPort).toBe(0x06a5);
    });
  }
  it('the explicit IV is unique per packet', () => {
    const { ours } = saPair('aes128gcm16');
    const e = new EspEngine();
    e.addSa(ours);
    const { sends } = e.encryptBatch(Array.from({ length: 50 }, () => ({ saId: ours.id, innerDstPort: 1701, payload: Buffer.alloc(10) })), 0);
    expect(new Set(sends.map((s) => s.data.subarray(8, 16).toString('hex'))).size).toBe(50);
  });
});

describe('ESP-level: engine ICV equals the truncated HMAC over SPI|seq|IV|ciphertext, and a naive encryptor is accepted', () => {
  for (const name of ['aes128-sha1', 'aes256-sha256', '3des-sha1', 'aes256-sha512']) {
    it(name, () => {
      const { ours } = saPair(name);
      const spec = resolveTransform(ours.transform);
      const e = new EspEngine();
      e.addSa(ours);
      const [s] = e.encryptBatch([{ saId: ours.id, innerDstPort: 40000, payload: Buffer.from('x') }], 0).sends;
      const d = s!.data;
      const at = d.length - spec.icvLen;
      expect(d.subarray(at)).toEqual(createHmac(spec.hashName!, ours.outbound.authKey).update(d.subarray(0, at)).digest().subarray(0, spec.icvLen));
      const pkt = craft(spec, ours.inbound, 1, { payload: Buffer.from('hello'), srcPort: 1701 });
      const r = e.decryptBatch([{ data: pkt, from: ours.peer }], 0);
      expect(r.delivered.map((x) => Buffer.from(x.payload).toString())).toEqual(['hello']);
    });
  }
});
