import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyNatt } from '../../src/esp/natt.js';

describe('RFC 3948 classification on port 4500', () => {
  it('0-3 byte datagrams are dropped, a lone 0xFF is a keepalive', () => {
    expect(classifyNatt(new Uint8Array(0))).toEqual({ kind: 'drop', reason: 'runt' });
    expect(classifyNatt(Uint8Array.of(0xff))).toEqual({ kind: 'keepalive' });
    expect(classifyNatt(Uint8Array.of(0x00))).toEqual({ kind: 'drop', reason: 'bad-keepalive' });
    expect(classifyNatt(Uint8Array.of(0xfe))).toEqual({ kind: 'drop', reason: 'bad-keepalive' });
    expect(classifyNatt(Uint8Array.of(0xff, 0xff))).toEqual({ kind: 'drop', reason: 'runt' });
    expect(classifyNatt(Uint8Array.of(0, 0, 0))).toEqual({ kind: 'drop', reason: 'runt' });
  });
  it('non-ESP marker: stripped IKE; fewer than 28 bytes after it dropped', () => {
    const ike = new Uint8Array(4 + 28).fill(7, 4);
    const c = classifyNatt(ike);
    expect(c.kind).toBe('ike');
    if (c.kind === 'ike') expect(Array.from(c.message)).toEqual(Array(28).fill(7));
    expect(classifyNatt(new Uint8Array(4 + 27))).toEqual({ kind: 'drop', reason: 'ike-too-short' });
    expect(classifyNatt(new Uint8Array(4))).toEqual({ kind: 'drop', reason: 'ike-too-short' });
  });
  it('ESP needs SPI and sequence number', () => {
    expect(classifyNatt(Uint8Array.of(0, 0, 1, 0, 0, 0, 0))).toEqual({ kind: 'drop', reason: 'esp-truncated' });
    expect(classifyNatt(Uint8Array.of(0, 0, 1, 0, 0, 0, 0, 1))).toEqual({ kind: 'esp' });
    // IKE sent to 4500 without the marker: its initiator cookie is non-zero, so it is ESP with an unknown SPI (dropped there)
    expect(classifyNatt(new Uint8Array(28).fill(0x42))).toEqual({ kind: 'esp' });
  });
  it('never throws; the class follows the rules for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (d) => {
        const c = classifyNatt(d);
        if (d.length < 4) expect(c.kind === 'keepalive').toBe(d.length === 1 && d[0] === 0xff);
        const marker = d.length >= 4 && d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0;
        if (c.kind === 'ike') {
          expect(marker && d.length >= 32).toBe(true);
          expect(c.message.length).toBe(d.length - 4);
        }
        if (c.kind === 'esp') expect(!marker && d.length >= 8).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
