import { DecodeError } from '../core/errors.js';
import { bytesToIPv4, ipv4ToBytes } from '../core/ipv4.js';
import { attributeByName, attributeDef, attributeName, lookupAttribute, type AttributeDef } from './dictionary.js';
import { hideUserPassword, revealUserPassword, saltDecrypt, saltEncrypt } from './crypto.js';
import type { RawAttribute } from './packet.js';

/**
 * Attribute values by kind, driven by the dictionary's table: text is a string,
 * integer and date a number, ipaddr a dotted quad, octets bytes; a User-Password is
 * given in clear and hidden on encoding, an MS-MPPE key given in clear and
 * salt-encrypted (both need the secret and the Request Authenticator: the context).
 */

export type AttributeValue = string | number | Uint8Array;

export interface Attribute {
  name: string;
  value: AttributeValue;
}

export interface ValueContext {
  secret: Uint8Array;
  /** The Request Authenticator of the request (its own, or the one a response answers). */
  authenticator: Uint8Array;
  /** Two random octets for a salt (RFC 2548 §2.4.2: unique per attribute of a packet). */
  salt?: () => Uint8Array;
}

export const attr = (name: string, value: AttributeValue): Attribute => ({ name, value });

function needContext(def: AttributeDef, ctx: ValueContext | undefined): ValueContext {
  if (!ctx) throw new RangeError(`${def.name} needs the secret and the Request Authenticator`);
  return ctx;
}

function asBytes(def: AttributeDef, v: AttributeValue): Uint8Array {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (typeof v === 'number') throw new RangeError(`${def.name} takes text or octets, not a number`);
  return v;
}

/** Encode one value by its table kind. */
export function encodeValue(def: AttributeDef, v: AttributeValue, ctx?: ValueContext): Uint8Array {
  switch (def.kind) {
    case 'text':
    case 'octets':
      return asBytes(def, v);
    case 'integer':
    case 'date': {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${def.name} takes a 32-bit unsigned integer, not ${String(v)}`);
      const b = Buffer.alloc(4);
      b.writeUInt32BE(v);
      return b;
    }
    case 'ipaddr':
      if (typeof v !== 'string') throw new RangeError(`${def.name} takes a dotted IPv4 address`);
      return ipv4ToBytes(v);
    case 'password': {
      const c = needContext(def, ctx);
      return hideUserPassword(asBytes(def, v), c.secret, c.authenticator);
    }
    case 'salted': {
      const c = needContext(def, ctx);
      if (!c.salt) throw new RangeError(`${def.name} needs a salt source`);
      return saltEncrypt(asBytes(def, v), c.secret, c.authenticator, c.salt());
    }
  }
}

/** Decode one value by its table kind; a wrong length for an integer, date or address is a DecodeError. */
export function decodeValue(def: AttributeDef, raw: Uint8Array, ctx?: ValueContext): AttributeValue {
  switch (def.kind) {
    case 'text':
      return Buffer.from(raw).toString('utf8');
    case 'octets':
      return raw;
    case 'integer':
    case 'date':
      if (raw.length !== 4) throw new DecodeError(`${def.name} of ${raw.length} octets, not 4`, 0, 'bad-attribute-value');
      return ((raw[0]! << 24) >>> 0) + ((raw[1]! << 16) | (raw[2]! << 8) | raw[3]!);
    case 'ipaddr':
      if (raw.length !== 4) throw new DecodeError(`${def.name} of ${raw.length} octets, not 4`, 0, 'bad-attribute-value');
      return bytesToIPv4(raw);
    case 'password':
      return ctx ? revealUserPassword(raw, ctx.secret, ctx.authenticator) : raw;
    case 'salted':
      return ctx ? saltDecrypt(raw, ctx.secret, ctx.authenticator) : raw;
  }
}

/** Typed attributes to wire attributes (in order). */
export function encodeAttributes(attrs: readonly Attribute[], ctx?: ValueContext): RawAttribute[] {
  return attrs.map((a) => {
    const def = attributeByName(a.name);
    return { vendor: def.vendor, type: def.type, value: encodeValue(def, a.value, ctx) };
  });
}

/** Wire attributes to typed ones; an attribute not in the table keeps its octets under FreeRADIUS's "Attr-N" name. */
export function decodeAttributes(raws: readonly RawAttribute[], ctx?: ValueContext): Attribute[] {
  return raws.map((r) => {
    const def = attributeDef(r.vendor, r.type);
    return def ? { name: def.name, value: decodeValue(def, r.value, ctx) } : { name: attributeName(r.vendor, r.type), value: r.value };
  });
}

function firstOf(attrs: readonly Attribute[], name: string): AttributeValue | undefined {
  return attrs.find((a) => a.name === name)?.value;
}

export function getText(attrs: readonly Attribute[], name: string): string | undefined {
  const v = firstOf(attrs, name);
  return v === undefined ? undefined : typeof v === 'string' ? v : typeof v === 'number' ? String(v) : Buffer.from(v).toString('utf8');
}

export function getInteger(attrs: readonly Attribute[], name: string): number | undefined {
  const v = firstOf(attrs, name);
  return typeof v === 'number' ? v : undefined;
}

export function getOctets(attrs: readonly Attribute[], name: string): Uint8Array | undefined {
  const v = firstOf(attrs, name);
  return v instanceof Uint8Array ? v : typeof v === 'string' ? Buffer.from(v, 'utf8') : undefined;
}

export function getAll(attrs: readonly Attribute[], name: string): AttributeValue[] {
  return attrs.filter((a) => a.name === name).map((a) => a.value);
}

/** "User-Name=bob, Framed-IP-Address=10.0.0.5, Class=0x01ab" for logs (User-Password and keys never shown). */
export function describeAttributes(attrs: readonly Attribute[]): string {
  return attrs
    .map((a) => {
      const kind = lookupAttribute(a.name)?.kind;
      if (kind === 'password' || kind === 'salted') return `${a.name}=<hidden>`;
      const v = a.value;
      return `${a.name}=${typeof v === 'string' || typeof v === 'number' ? String(v) : '0x' + Buffer.from(v).toString('hex')}`;
    })
    .join(', ');
}
