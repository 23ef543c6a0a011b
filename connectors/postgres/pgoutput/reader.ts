import { PgoutputDecodeError } from './errors.js'

/**
 * A bounds-checked big-endian cursor over one pgoutput message. One instance is reused for
 * every message (decoding is synchronous), so reading allocates nothing but the values it
 * returns. Every read checks the remaining length first and throws a PgoutputDecodeError (PG_DECODE_FAILED) naming the
 * message and the offset, so a short buffer never yields garbage or reads past its end.
 */
export class Reader {
  /** The message being decoded; only valid during one decode call. */
  buf: Buffer = Buffer.alloc(0)
  /** Offset of the next unread byte. */
  pos = 0
  /** Message name used in errors ("insert", "relation", ...). */
  name = 'unknown'

  /** Points the reader at a new message, positioned after its tag byte. */
  reset(buf: Buffer, name: string): void {
    this.buf = buf
    this.pos = 1
    this.name = name
  }

  /** Throws unless `n` more bytes are available. */
  need(n: number, what: string): void {
    if (n < 0) {
      throw new PgoutputDecodeError(
        `pgoutput ${this.name} message has a negative ${what} length ${n} at offset ${this.pos}`,
      )
    }
    if (this.pos + n > this.buf.length) {
      throw new PgoutputDecodeError(
        `pgoutput ${this.name} message truncated: ${what} needs ${n} byte(s) at offset ${this.pos}, ` +
          `${this.buf.length - this.pos} left`,
      )
    }
  }

  /** Throws unless the whole message was consumed: leftover bytes mean a misread layout. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw new PgoutputDecodeError(
        `pgoutput ${this.name} message has ${this.buf.length - this.pos} unread byte(s) at offset ${this.pos}`,
      )
    }
  }

  /** Int8 / Byte1, unsigned. */
  u8(what: string): number {
    this.need(1, what)
    return this.buf[this.pos++]!
  }

  /** Int16, unsigned (column counts). */
  u16(what: string): number {
    this.need(2, what)
    const b = this.buf
    const p = this.pos
    this.pos = p + 2
    return (b[p]! << 8) | b[p + 1]!
  }

  /** Int32, signed (lengths). */
  i32(what: string): number {
    this.need(4, what)
    const b = this.buf
    const p = this.pos
    this.pos = p + 4
    return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!
  }

  /** Int32, unsigned (OIDs and xids are uint32 in Postgres). */
  u32(what: string): number {
    return this.i32(what) >>> 0
  }

  /** Int64, unsigned, as a bigint (LSNs). */
  u64(what: string): bigint {
    const hi = this.u32(what)
    const lo = this.u32(what)
    return (BigInt(hi) << 32n) | BigInt(lo)
  }

  /** Int64, signed, as a bigint (timestamps). */
  i64(what: string): bigint {
    const hi = this.i32(what)
    const lo = this.u32(what)
    return (BigInt(hi) << 32n) | BigInt(lo)
  }

  /** NUL-terminated UTF-8 string; the terminator is consumed. */
  cstring(what: string): string {
    const b = this.buf
    const start = this.pos
    const nul = b.indexOf(0, start)
    if (nul < 0) {
      throw new PgoutputDecodeError(
        `pgoutput ${this.name} message truncated: ${what} string at offset ${start} has no terminating NUL`,
      )
    }
    this.pos = nul + 1
    return b.toString('utf8', start, nul)
  }

  /** `n` bytes as UTF-8 text. */
  text(n: number, what: string): string {
    this.need(n, what)
    const p = this.pos
    this.pos = p + n
    return this.buf.toString('utf8', p, p + n)
  }

  /** `n` bytes copied into a new Buffer: the source buffer is reused by the caller. */
  bytes(n: number, what: string): Buffer {
    this.need(n, what)
    const p = this.pos
    this.pos = p + n
    const out = Buffer.allocUnsafe(n)
    this.buf.copy(out, 0, p, p + n)
    return out
  }
}
