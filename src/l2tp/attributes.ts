import { DecodeError, Reader } from '../core/index.js';
import { type Avp, type AvpSpec, decodeAvps } from './avp.js';
import { AVP_TABLE, type AvpDef, type AvpEntry, type AvpLength, AvpType, avpDef } from './constants.js';

/** Result Code AVP value, RFC 2661 §4.4.2: result, optional error code, optional message. */
export interface ResultCode {
  result: number;
  error?: number;
  message?: string;
}

/** Q.931 Cause Code AVP value, RFC 2661 §4.4.6. */
export interface Q931Cause {
  cause: number;
  msg: number;
  advisory?: string;
}

/** Call Errors AVP, RFC 2661 §4.4.6 (WEN). */
export interface CallErrors {
  crcErrors: number;
  framingErrors: number;
  hardwareOverruns: number;
  bufferOverruns: number;
  timeoutErrors: number;
  alignmentErrors: number;
}

/** Value type of each AVP kind (constants.ts AvpKind). */
export interface AvpKindValue {
  u16: number;
  u32: number;
  string: string;
  bytes: Uint8Array;
  flag: boolean;
  version: { version: number; revision: number };
  result: ResultCode;
  q931: Q931Cause;
  accm: { send: number; receive: number };
  callErrors: CallErrors;
}

type StoredEntry = Extract<AvpEntry, { attr: string }>;

/**
 * The typed AVPs of one control message (RFC 2661 §4.4), one optional field
 * per AVP_TABLE entry that has an `attr`, typed by its kind; absent when not
 * carried.
 */
export type ControlAttributes = { [E in StoredEntry as E['attr']]?: AvpKindValue[E['kind']] };

export interface ControlMessage {
  messageType: number;
  /** M bit of the Message Type AVP: an unknown type with M set clears the tunnel (§4.4.1). */
  messageTypeMandatory: boolean;
  avps: Avp[];
  attrs: ControlAttributes;
  /** The first unrecognised AVP with the M bit set (vendor ≠ 0, reserved bits set, or unknown type). */
  unknownMandatory?: Avp;
}

function str(v: Uint8Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.length).toString('latin1');
}

/** A Reader over the value after checking it against the table's length rule. */
function checked(a: Avp, length: AvpLength): Reader {
  if (typeof length === 'number') {
    if (a.value.length !== length) {
      throw new DecodeError(`AVP type ${a.type} value of ${a.value.length} bytes, expected ${length}`, a.offset, 'avp-value-length');
    }
  } else if (length !== undefined && a.value.length < length.min) {
    throw new DecodeError(`AVP type ${a.type} value of ${a.value.length} bytes, expected at least ${length.min}`, a.offset, 'avp-value-length');
  }
  return new Reader(a.value);
}

interface KindCodec<V> {
  /** Read the value; its length has passed the table's rule. */
  decode(r: Reader, a: Avp): V;
  encode(v: V): Uint8Array;
}

function u32s(w: Buffer, at: number, vs: readonly number[]): void {
  vs.forEach((v, i) => w.writeUInt32BE(v >>> 0, at + 4 * i));
}

/** The wire layout of every AVP kind (RFC 2661 §4.4). */
const CODECS: { readonly [K in keyof AvpKindValue]: KindCodec<AvpKindValue[K]> } = {
  u16: {
    decode: (r) => r.u16(),
    encode: (v) => {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(v & 0xffff);
      return b;
    },
  },
  u32: {
    decode: (r) => r.u32(),
    encode: (v) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(v >>> 0);
      return b;
    },
  },
  string: { decode: (_r, a) => str(a.value), encode: (v) => Buffer.from(v, 'latin1') },
  bytes: { decode: (r) => r.rest(), encode: (v) => v },
  flag: { decode: () => true, encode: () => new Uint8Array(0) },
  version: {
    decode: (r) => ({ version: r.u8(), revision: r.u8() }),
    encode: (v) => Uint8Array.of(v.version & 0xff, v.revision & 0xff),
  },
  // 2 bytes (result only: the 8-byte AVP, xl2tpd #175), 4, or more with a message.
  result: {
    decode: (r, a) => {
      const rc: ResultCode = { result: r.u16('result') };
      if (r.remaining === 1) throw new DecodeError('Result Code with a 1-byte error code', a.offset, 'avp-value-length');
      if (r.remaining >= 2) rc.error = r.u16('error');
      if (r.remaining > 0) rc.message = str(r.rest());
      return rc;
    },
    encode: (v) => {
      const msg = v.message === undefined ? Buffer.alloc(0) : Buffer.from(v.message, 'latin1').subarray(0, 1000);
      const hasError = v.error !== undefined || msg.length > 0;
      const b = Buffer.alloc(2 + (hasError ? 2 : 0) + msg.length);
      b.writeUInt16BE(v.result & 0xffff, 0);
      if (hasError) b.writeUInt16BE((v.error ?? 0) & 0xffff, 2);
      if (msg.length > 0) b.set(msg, 4);
      return b;
    },
  },
  q931: {
    decode: (r) => {
      const q: Q931Cause = { cause: r.u16(), msg: r.u8() };
      if (r.remaining > 0) q.advisory = str(r.rest());
      return q;
    },
    encode: (v) => {
      const advisory = Buffer.from(v.advisory ?? '', 'latin1');
      const b = Buffer.alloc(3 + advisory.length);
      b.writeUInt16BE(v.cause & 0xffff, 0);
      b.writeUInt8(v.msg & 0xff, 2);
      b.set(advisory, 3);
      return b;
    },
  },
  accm: {
    decode: (r) => {
      r.skip(2, 'reserved');
      return { send: r.u32(), receive: r.u32() };
    },
    encode: (v) => {
      const b = Buffer.alloc(10);
      u32s(b, 2, [v.send, v.receive]);
      return b;
    },
  },
  callErrors: {
    decode: (r) => {
      r.skip(2, 'reserved');
      return {
        crcErrors: r.u32(),
        framingErrors: r.u32(),
        hardwareOverruns: r.u32(),
        bufferOverruns: r.u32(),
        timeoutErrors: r.u32(),
        alignmentErrors: r.u32(),
      };
    },
    encode: (v) => {
      const b = Buffer.alloc(26);
      u32s(b, 2, [v.crcErrors, v.framingErrors, v.hardwareOverruns, v.bufferOverruns, v.timeoutErrors, v.alignmentErrors]);
      return b;
    },
  },
};

function codec(kind: keyof AvpKindValue): KindCodec<unknown> {
  return CODECS[kind] as KindCodec<unknown>;
}

/** Decode a Result Code value (RFC 2661 §4.4.2). */
export function decodeResultCode(a: Avp): ResultCode {
  return CODECS.result.decode(checked(a, { min: 2 }), a);
}

/**
 * Fill `attrs` from one recognised IETF AVP by its table entry: the length
 * rule, then the kind's decoder. `ignored` entries and the Message Type
 * (read first, by decodeControlMessage) store nothing. Throws DecodeError
 * on a wrong value length.
 */
function decodeAttribute(a: Avp, def: AvpDef, attrs: ControlAttributes): void {
  if (def.attr === undefined || def.kind === 'ignored') return;
  const value = codec(def.kind).decode(checked(a, def.length), a);
  (attrs as Record<string, unknown>)[def.attr] = value;
}

/**
 * Decode a control message payload (the AVPs after the header). Returns
 * null for a ZLB (no AVPs, RFC 2661 §5.8). The Message Type AVP must come
 * first (§4.4.1). Vendor AVPs (vendor ≠ 0) are never read as IETF types
 * (xl2tpd #163). Throws DecodeError.
 */
export function decodeControlMessage(payload: Uint8Array, secret?: Uint8Array): ControlMessage | null {
  const avps = decodeAvps(payload, secret);
  const first = avps[0];
  if (first === undefined) return null;
  if (first.vendorId !== 0 || first.type !== AvpType.MessageType || first.reserved !== 0) {
    throw new DecodeError('Message Type is not the first AVP', first.offset, 'message-type-not-first');
  }
  const messageType = checked(first, 2).u16();
  const msg: ControlMessage = { messageType, messageTypeMandatory: first.mandatory, avps, attrs: {} };
  for (let i = 1; i < avps.length; i++) {
    const a = avps[i]!;
    const def = a.reserved === 0 ? avpDef(a.vendorId, a.type) : undefined;
    if (def === undefined || def.type === AvpType.MessageType) {
      if (a.mandatory && msg.unknownMandatory === undefined) msg.unknownMandatory = a;
      continue;
    }
    decodeAttribute(a, def, msg.attrs);
  }
  return msg;
}

// ---- builders for outgoing AVPs (RFC 2661 §4.4) ----

const BY_ATTR: ReadonlyMap<string, AvpDef> = new Map(
  AVP_TABLE.filter((d): d is StoredEntry => 'attr' in d).map((d) => [d.attr, d]),
);

/**
 * One AVP from its ControlAttributes field and value: the type, the layout
 * and the default M bit come from AVP_TABLE. decodeControlMessage reads it
 * back into the same field.
 */
export function avp<K extends keyof ControlAttributes>(attr: K, value: NonNullable<ControlAttributes[K]>, mandatory?: boolean): AvpSpec {
  const def = BY_ATTR.get(attr)!;
  return { type: def.type, value: codec(def.kind as keyof AvpKindValue).encode(value), mandatory: mandatory ?? def.mandatory };
}

export function avpU16(type: number, v: number, mandatory = true): AvpSpec {
  return { type, value: CODECS.u16.encode(v), mandatory };
}

export function avpU32(type: number, v: number, mandatory = true): AvpSpec {
  return { type, value: CODECS.u32.encode(v), mandatory };
}

export function avpString(type: number, s: string, mandatory = true): AvpSpec {
  return { type, value: CODECS.string.encode(s), mandatory };
}

export function avpBytes(type: number, v: Uint8Array, mandatory = true): AvpSpec {
  return { type, value: v, mandatory };
}

export function avpMessageType(t: number): AvpSpec {
  return avpU16(AvpType.MessageType, t, true);
}

/** Result Code AVP: result only (2 bytes), or with error code and optional message. */
export function avpResultCode(result: number, error?: number, message?: string): AvpSpec {
  const rc: ResultCode = { result };
  if (error !== undefined) rc.error = error;
  if (message !== undefined) rc.message = message;
  return avp('resultCode', rc, true);
}

export function avpProtocolVersion(version = 1, revision = 0): AvpSpec {
  return avp('protocolVersion', { version, revision }, true);
}
