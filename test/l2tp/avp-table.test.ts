import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AvpKindValue, avp, decodeControlMessage } from '../../src/l2tp/attributes.js';
import { encodeAvps } from '../../src/l2tp/avp.js';
import { AVP_TABLE, AVP_TYPE_NAMES, AvpType, avpTypeName } from '../../src/l2tp/constants.js';
import { DecodeError } from '../../src/core/index.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const latin1 = (min: number) =>
  fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: 60 });

/** A value of each kind that survives the wire unchanged, within the entry's length rule. */
function valueOf(kind: keyof AvpKindValue, length: number | { min: number } | undefined): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'u16':
      return u16;
    case 'u32':
      return u32;
    case 'string':
      return latin1(0);
    case 'bytes':
      if (typeof length === 'number') return fc.uint8Array({ minLength: length, maxLength: length });
      return fc.uint8Array({ minLength: Math.max(1, length?.min ?? 0), maxLength: 64 });
    case 'flag':
      return fc.constant(true);
    case 'version':
      return fc.record({ version: u8, revision: u8 });
    case 'result':
      return fc.oneof(
        fc.record({ result: u16 }),
        fc.record({ result: u16, error: u16 }),
        fc.record({ result: u16, error: u16, message: latin1(1) }),
      );
    case 'q931':
      return fc.oneof(fc.record({ cause: u16, msg: u8 }), fc.record({ cause: u16, msg: u8, advisory: latin1(1) }));
    case 'accm':
      return fc.record({ send: u32, receive: u32 });
    case 'callErrors':
      return fc.record({
        crcErrors: u32,
        framingErrors: u32,
        hardwareOverruns: u32,
        bufferOverruns: u32,
        timeoutErrors: u32,
        alignmentErrors: u32,
      });
  }
}

const norm = (v: unknown): unknown => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v);

describe('AVP table (RFC 2661 §4.4)', () => {
  it('every stored entry round-trips through encode and decode, into its own field and no other', () => {
    for (const def of AVP_TABLE) {
      if (!('attr' in def)) continue;
      fc.assert(
        fc.property(valueOf(def.kind, def.length), fc.boolean(), (value, m) => {
          const spec = avp(def.attr, value as never, m);
          expect(spec.type).toBe(def.type);
          expect(spec.mandatory).toBe(m);
          if (typeof def.length === 'number') expect(spec.value.length).toBe(def.length);
          const msg = decodeControlMessage(encodeAvps([{ type: AvpType.MessageType, value: Uint8Array.of(0, 10), mandatory: true }, spec]))!;
          expect(msg.unknownMandatory).toBeUndefined();
          expect(Object.keys(msg.attrs)).toEqual([def.attr]);
          const got = (msg.attrs as Record<string, unknown>)[def.attr];
          expect(norm(got)).toEqual(norm(value));
        }),
        { numRuns: 60 },
      );
    }
  });

  it('the default M bit comes from the table', () => {
    for (const def of AVP_TABLE) {
      if (!('attr' in def)) continue;
      fc.assert(
        fc.property(valueOf(def.kind, def.length), (value) => {
          expect(avp(def.attr, value as never).mandatory).toBe(def.mandatory);
        }),
        { numRuns: 5 },
      );
    }
    expect(avp('firmwareRevision', 1).mandatory).toBe(false);
    expect(avp('vendorName', 'x').mandatory).toBe(false);
    expect(avp('hostName', 'x').mandatory).toBe(true);
  });

  it('a value off its entry length is a DecodeError avp-value-length, for every length rule', () => {
    for (const def of AVP_TABLE) {
      if (def.type === AvpType.MessageType || def.length === undefined) continue;
      const bad = typeof def.length === 'number' ? [def.length + 1, ...(def.length > 0 ? [def.length - 1] : [])] : [def.length.min - 1];
      for (const n of bad) {
        const payload = encodeAvps([
          { type: AvpType.MessageType, value: Uint8Array.of(0, 10), mandatory: true },
          { type: def.type, value: new Uint8Array(n), mandatory: true },
        ]);
        let err: unknown;
        try {
          decodeControlMessage(payload);
        } catch (e) {
          err = e;
        }
        expect(err, `${def.name} with ${n} bytes`).toBeInstanceOf(DecodeError);
        expect((err as DecodeError).reason).toBe('avp-value-length');
      }
    }
  });

  it('ignored entries are recognised (no Unknown Mandatory AVP) and store nothing', () => {
    const ignored = AVP_TABLE.filter((d) => d.kind === 'ignored');
    expect(ignored.map((d) => d.type)).toEqual([26, 27, 28, 29, 30, 31, 32, 33]);
    for (const def of ignored) {
      const msg = decodeControlMessage(
        encodeAvps([
          { type: AvpType.MessageType, value: Uint8Array.of(0, 10), mandatory: true },
          { type: def.type, value: Buffer.from('anything'), mandatory: true },
        ]),
      )!;
      expect(msg.unknownMandatory).toBeUndefined();
      expect(msg.attrs).toEqual({});
    }
  });

  it('types, names and AvpType come from the one table, without gaps but 20', () => {
    expect(AVP_TABLE.map((d) => d.type)).toEqual([...Array.from({ length: 20 }, (_, i) => i), ...Array.from({ length: 19 }, (_, i) => i + 21)]);
    for (const def of AVP_TABLE) {
      expect((AvpType as Record<string, number>)[def.id]).toBe(def.type);
      expect(AVP_TYPE_NAMES[def.type]).toBe(def.name);
      expect(avpTypeName(0, def.type)).toBe(def.name);
    }
    expect(new Set(AVP_TABLE.map((d) => d.id)).size).toBe(AVP_TABLE.length);
    expect(avpTypeName(0, 20)).toBe('type-20');
  });
});
