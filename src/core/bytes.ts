import { DecodeError } from './errors.js';

/**
 * A copy of `b` in memory of its own, for bytes kept as long as a session (keys, IVs,
 * cookies). Buffer.from, Buffer.concat and Buffer.allocUnsafe cut small buffers out of
 * Node's shared 8 KiB pool slabs: one such buffer kept for hours keeps its whole slab
 * alive, with the short-lived bytes of a handshake around it.
 */
export function own(b: Uint8Array): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length);
  c.set(b);
  return c;
}

/**
 * Bounds-checked big-endian reader over a byte view. Every read checks the
 * remaining length first and throws DecodeError (never RangeError) with the
 * offset at which the read was attempted.
 */
export class Reader {
  private pos: number;
  private readonly end: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    if (start < 0 || end > buf.length || start > end) {
      throw new DecodeError(`reader window ${start}..${end} outside buffer of ${buf.length}`, start, 'bounds');
    }
    this.pos = start;
    this.end = end;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): number {
    if (n < 0 || this.pos + n > this.end) {
      throw new DecodeError(`truncated ${what}: need ${n} bytes, have ${this.end - this.pos}`, this.pos, 'truncated');
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(what = 'u8'): number {
    const at = this.need(1, what);
    return this.buf[at]!;
  }

  u16(what = 'u16'): number {
    const at = this.need(2, what);
    return (this.buf[at]! << 8) | this.buf[at + 1]!;
  }

  u32(what = 'u32'): number {
    const at = this.need(4, what);
    return ((this.buf[at]! << 24) >>> 0) + ((this.buf[at + 1]! << 16) | (this.buf[at + 2]! << 8) | this.buf[at + 3]!);
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number, what = 'bytes'): Uint8Array {
    const at = this.need(n, what);
    return this.buf.subarray(at, at + n);
  }

  /** A copy of the next n bytes as a Buffer (safe to keep after the input is reused). */
  copy(n: number, what = 'bytes'): Buffer {
    return Buffer.from(this.bytes(n, what));
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining, 'rest');
  }

  skip(n: number, what = 'skip'): void {
    this.need(n, what);
  }

  /** A sub-reader over the next n bytes; this reader moves past them. */
  sub(n: number, what = 'sub'): Reader {
    const at = this.need(n, what);
    return new Reader(this.buf, at, at + n);
  }

  fail(message: string, reason = 'malformed', at = this.pos): never {
    throw new DecodeError(message, at, reason);
  }
}

/**
 * Growable big-endian writer. Memory is zero-filled (Buffer.alloc), so no
 * uninitialised bytes can reach the wire.
 */
export class Writer {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 256) {
    this.buf = Buffer.alloc(Math.max(16, initial));
  }

  get length(): number {
    return this.len;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }

  /** Reserve n bytes to fill later with patchU16/patchU32 (e.g. a length field). */
  reserve(n: number): number {
    const at = this.len;
    this.zeros(n);
    return at;
  }

  patchU8(at: number, v: number): this {
    this.buf[at] = v & 0xff;
    return this;
  }

  patchU16(at: number, v: number): this {
    this.buf.writeUInt16BE(v & 0xffff, at);
    return this;
  }

  patchU32(at: number, v: number): this {
    this.buf.writeUInt32BE(v >>> 0, at);
    return this;
  }

  /** The written bytes as a new Buffer of exactly the written length. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}
