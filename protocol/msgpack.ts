import { allocUninitialized } from "./bytes.js";
import { DecodeError } from "./decode-error.js";

/**
 * Schema-directed MessagePack for the codecs in this folder (internal; not re-exported).
 *
 * Why not `@msgpack/msgpack`'s Encoder/Decoder:
 * - Its Decoder allocates `new Array(n)` as soon as it reads an array header, before it knows the
 *   elements are there. A 5-byte header claiming 65,536 elements costs 512 KiB, and nesting them
 *   turned a 100 KB payload into a 4 GB heap and a crashed process in our test. Caps do not help
 *   (any useful cap is large enough). A hostile peer must not be able to do that to a broker.
 * - Its Encoder copies every payload twice: into its growing internal buffer, then `slice`d out
 *   (`encodeSharedRef` avoids the slice but hands back memory the next call overwrites).
 * - A generic decode builds an untyped tree that must then be validated field by field anyway.
 *
 * So the writer measures a value first and then writes it into an exactly-sized buffer (entry data
 * is copied once, into the payload), and the reader reads exactly the shape it expects, checks every
 * header against the bytes that remain before allocating anything, and returns `bin` values as views.
 * The bytes are standard MessagePack: any msgpack library decodes them (a test checks that).
 */

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Writes MessagePack into `bytes`, or, with `bytes` null, only counts how many bytes it would write
 * (`pos`). Use `encodeMsgpack` to run a writer function in both modes.
 */
export class MsgpackWriter {
  pos = 0;
  private readonly dv: DataView | null;

  constructor(private readonly bytes: Uint8Array | null) {
    this.dv = bytes && new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private byte(b: number): void {
    if (this.bytes) this.bytes[this.pos] = b;
    this.pos++;
  }

  private u16(n: number): void {
    this.dv?.setUint16(this.pos, n);
    this.pos += 2;
  }

  private u32(n: number): void {
    this.dv?.setUint32(this.pos, n);
    this.pos += 4;
  }

  /** A non-negative safe integer, in the smallest format that holds it. */
  uint(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`msgpack: ${field} ${n} is not a non-negative safe integer`);
    if (n < 0x80) this.byte(n);
    else if (n <= 0xff) {
      this.byte(0xcc);
      this.byte(n);
    } else if (n <= 0xffff) {
      this.byte(0xcd);
      this.u16(n);
    } else if (n <= 0xffff_ffff) {
      this.byte(0xce);
      this.u32(n);
    } else {
      this.byte(0xcf);
      this.u32(Math.floor(n / 2 ** 32));
      this.u32(n >>> 0);
    }
  }

  bool(b: boolean): void {
    this.byte(b ? 0xc3 : 0xc2);
  }

  nil(): void {
    this.byte(0xc0);
  }

  array(n: number): void {
    if (n <= 15) this.byte(0x90 | n);
    else if (n <= 0xffff) {
      this.byte(0xdc);
      this.u16(n);
    } else {
      this.byte(0xdd);
      this.u32(n);
    }
  }

  str(s: string): void {
    const len = Buffer.byteLength(s, "utf8");
    if (len <= 31) this.byte(0xa0 | len);
    else if (len <= 0xff) {
      this.byte(0xd9);
      this.byte(len);
    } else if (len <= 0xffff) {
      this.byte(0xda);
      this.u16(len);
    } else {
      this.byte(0xdb);
      this.u32(len);
    }
    if (this.bytes && utf8Encoder.encodeInto(s, this.bytes.subarray(this.pos, this.pos + len)).written !== len) {
      throw new Error(`msgpack: string did not encode to the ${len} bytes measured`);
    }
    this.pos += len;
  }

  bin(b: Uint8Array): void {
    const len = b.length;
    if (len <= 0xff) {
      this.byte(0xc4);
      this.byte(len);
    } else if (len <= 0xffff) {
      this.byte(0xc5);
      this.u16(len);
    } else {
      this.byte(0xc6);
      this.u32(len);
    }
    this.bytes?.set(b, this.pos);
    this.pos += len;
  }
}

/**
 * Runs `write` once to measure, then again into a buffer of exactly that size. `write` must do the
 * same both times; the check below keeps uninitialized memory from ever reaching the wire.
 */
export function encodeMsgpack(write: (w: MsgpackWriter) => void): Uint8Array {
  const measure = new MsgpackWriter(null);
  write(measure);
  const out = allocUninitialized(measure.pos);
  const w = new MsgpackWriter(out);
  write(w);
  if (w.pos !== out.length) throw new Error(`msgpack: measured ${out.length} bytes but wrote ${w.pos}`);
  return out;
}

/**
 * Reads MessagePack of a known shape from `bytes`. Every method names the field it reads so a
 * failure says what was wrong; every length is checked against the bytes that remain before
 * anything is allocated; nothing is read past the end. Failures throw DecodeError.
 */
export class MsgpackReader {
  pos = 0;
  private readonly dv: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (n > this.remaining) throw new DecodeError(`${field}: truncated (needs ${n} more bytes, ${this.remaining} left)`);
  }

  private tag(field: string): number {
    this.need(1, field);
    return this.bytes[this.pos++];
  }

  private u8(field: string): number {
    this.need(1, field);
    return this.bytes[this.pos++];
  }

  private u16(field: string): number {
    this.need(2, field);
    const v = this.dv.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  private u32(field: string): number {
    this.need(4, field);
    const v = this.dv.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** True (and consumed) when the next value is nil. */
  /** Whether the next value is binary data (nothing is consumed). */
  isBin(): boolean {
    const t = this.remaining > 0 ? this.bytes[this.pos] : 0;
    return t >= 0xc4 && t <= 0xc6;
  }

  nil(): boolean {
    if (this.remaining > 0 && this.bytes[this.pos] === 0xc0) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** An integer in [0, max] (max defaults to 2^53 - 1), in any MessagePack integer format. */
  uint(field: string, max = Number.MAX_SAFE_INTEGER): number {
    const t = this.tag(field);
    let n: number;
    if (t < 0x80) n = t;
    else if (t >= 0xe0) n = t - 0x100; // negative fixint
    else {
      switch (t) {
        case 0xcc:
          n = this.u8(field);
          break;
        case 0xcd:
          n = this.u16(field);
          break;
        case 0xce:
          n = this.u32(field);
          break;
        case 0xcf:
        case 0xd3: {
          this.need(8, field);
          const v = t === 0xcf ? this.dv.getBigUint64(this.pos) : this.dv.getBigInt64(this.pos);
          this.pos += 8;
          if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < 0n) throw new DecodeError(`${field}: ${v} is not in [0, ${max}]`);
          n = Number(v);
          break;
        }
        case 0xd0:
          this.need(1, field);
          n = this.dv.getInt8(this.pos++);
          break;
        case 0xd1:
          this.need(2, field);
          n = this.dv.getInt16(this.pos);
          this.pos += 2;
          break;
        case 0xd2:
          this.need(4, field);
          n = this.dv.getInt32(this.pos);
          this.pos += 4;
          break;
        default:
          throw new DecodeError(`${field}: expected an integer, found ${describeTag(t)}`);
      }
    }
    if (n < 0 || n > max) throw new DecodeError(`${field}: ${n} is not in [0, ${max}]`);
    return n;
  }

  bool(field: string): boolean {
    const t = this.tag(field);
    if (t === 0xc2) return false;
    if (t === 0xc3) return true;
    throw new DecodeError(`${field}: expected a boolean, found ${describeTag(t)}`);
  }

  /**
   * An array header with a length in [min, max]. The length is also checked against the bytes
   * left (every element takes at least one), so a lying header cannot make the caller allocate.
   */
  array(field: string, min: number, max: number): number {
    const t = this.tag(field);
    let n: number;
    if ((t & 0xf0) === 0x90) n = t & 0x0f;
    else if (t === 0xdc) n = this.u16(field);
    else if (t === 0xdd) n = this.u32(field);
    else throw new DecodeError(`${field}: expected an array, found ${describeTag(t)}`);
    if (n < min || n > max) {
      throw new DecodeError(`${field}: array of ${n} elements, expected ${min === max ? `${min}` : `${min} to ${max}`}`);
    }
    if (n > this.remaining) throw new DecodeError(`${field}: array of ${n} elements but only ${this.remaining} bytes left`);
    return n;
  }

  /** A UTF-8 string of at most `maxBytes` bytes; invalid UTF-8 is an error. */
  str(field: string, maxBytes: number): string {
    const t = this.tag(field);
    let len: number;
    if ((t & 0xe0) === 0xa0) len = t & 0x1f;
    else if (t === 0xd9) len = this.u8(field);
    else if (t === 0xda) len = this.u16(field);
    else if (t === 0xdb) len = this.u32(field);
    else throw new DecodeError(`${field}: expected a string, found ${describeTag(t)}`);
    if (len > maxBytes) throw new DecodeError(`${field}: string of ${len} bytes, at most ${maxBytes} allowed`);
    this.need(len, field);
    try {
      return utf8Decoder.decode(this.bytes.subarray(this.pos, (this.pos += len)));
    } catch {
      throw new DecodeError(`${field}: not valid UTF-8`);
    }
  }

  /** Bytes of at most `maxBytes`, as a view into the input (no copy). */
  bin(field: string, maxBytes: number): Uint8Array {
    const t = this.tag(field);
    let len: number;
    if (t === 0xc4) len = this.u8(field);
    else if (t === 0xc5) len = this.u16(field);
    else if (t === 0xc6) len = this.u32(field);
    else throw new DecodeError(`${field}: expected binary data, found ${describeTag(t)}`);
    if (len > maxBytes) throw new DecodeError(`${field}: ${len} bytes, at most ${maxBytes} allowed`);
    this.need(len, field);
    return this.bytes.subarray(this.pos, (this.pos += len));
  }

  /** The input must be used up exactly. */
  end(): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.remaining} bytes after the end of the value`);
  }
}

function describeTag(t: number): string {
  if (t <= 0x7f || t >= 0xe0) return "an integer";
  if (t <= 0x8f || t === 0xde || t === 0xdf) return "a map";
  if (t <= 0x9f || t === 0xdc || t === 0xdd) return "an array";
  if (t <= 0xbf || (t >= 0xd9 && t <= 0xdb)) return "a string";
  if (t === 0xc0) return "nil";
  if (t === 0xc2 || t === 0xc3) return "a boolean";
  if (t >= 0xc4 && t <= 0xc6) return "binary data";
  if (t === 0xca || t === 0xcb) return "a float";
  if (t >= 0xcc && t <= 0xd3) return "an integer";
  if (t === 0xc1) return "the unused byte 0xc1";
  return "an extension type";
}
