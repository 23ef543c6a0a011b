import { BinlogDecodeError } from './errors.js'

/**
 * A bounds-checked little-endian cursor over one binlog event. `end` excludes the trailing
 * CRC, so a read never mistakes checksum bytes for data. Every read checks the remaining
 * length and throws a BinlogDecodeError naming the event and offset: a short or corrupt
 * event never yields garbage or reads past its end. Reading allocates nothing but the
 * values returned.
 */
export class Reader {
  /** The event (or decompressed block) being read. */
  buf: Buffer
  /** Offset of the next unread byte. */
  pos: number
  /** Offset one past the last readable byte. */
  end: number
  /** Header log_pos of the event, for errors. */
  logPos: number
  /** Header event type, for errors. */
  eventType: number

  constructor(buf: Buffer, pos: number, end: number, logPos: number, eventType: number) {
    this.buf = buf
    this.pos = pos
    this.end = end
    this.logPos = logPos
    this.eventType = eventType
  }

  /** Throws a BinlogDecodeError at the current offset. */
  fail(message: string): never {
    throw new BinlogDecodeError(
      `binlog event type ${this.eventType} at log_pos ${this.logPos}: ${message} (offset ${this.pos})`,
      { logPos: this.logPos, eventType: this.eventType, offset: this.pos },
    )
  }

  /** Throws unless `n` more bytes are available. */
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) {
      this.fail(`truncated: ${what} needs ${n} byte(s), ${this.end - this.pos} left`)
    }
  }

  /** Bytes left before `end`. */
  get remaining(): number {
    return this.end - this.pos
  }

  /** Moves past `n` bytes. */
  skip(n: number, what: string): void {
    this.need(n, what)
    this.pos += n
  }

  u8(what: string): number {
    if (this.pos >= this.end) this.need(1, what)
    return this.buf[this.pos++]!
  }

  u16(what: string): number {
    this.need(2, what)
    const b = this.buf
    const p = this.pos
    this.pos = p + 2
    return b[p]! | (b[p + 1]! << 8)
  }

  u24(what: string): number {
    this.need(3, what)
    const b = this.buf
    const p = this.pos
    this.pos = p + 3
    return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)
  }

  u32(what: string): number {
    this.need(4, what)
    const b = this.buf
    const p = this.pos
    this.pos = p + 4
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000
  }

  /** 6-byte unsigned (table ids); exact as a number. */
  u48(what: string): number {
    const lo = this.u32(what)
    return lo + this.u16(what) * 0x100000000
  }

  /** Unsigned 64-bit as a bigint. */
  u64(what: string): bigint {
    this.need(8, what)
    const v = this.buf.readBigUInt64LE(this.pos)
    this.pos += 8
    return v
  }

  /** Signed 64-bit as a bigint. */
  i64(what: string): bigint {
    this.need(8, what)
    const v = this.buf.readBigInt64LE(this.pos)
    this.pos += 8
    return v
  }

  /**
   * Length-encoded integer (MySQL "packed integer"): < 0xfb is the value; 0xfc + u16;
   * 0xfd + u24; 0xfe + u64. 0xfb (NULL) and 0xff are invalid here. Values above 2^53 are
   * rejected: they only occur in corrupt events.
   */
  lenenc(what: string): number {
    const first = this.u8(what)
    if (first < 0xfb) return first
    if (first === 0xfc) return this.u16(what)
    if (first === 0xfd) return this.u24(what)
    if (first === 0xfe) {
      const lo = this.u32(what)
      const hi = this.u32(what)
      if (hi >= 0x200000) this.fail(`${what}: length-encoded integer too large`)
      return hi * 0x100000000 + lo
    }
    return this.fail(`${what}: invalid length-encoded integer prefix 0x${first.toString(16)}`)
  }

  /** `n` bytes as UTF-8 text. */
  utf8(n: number, what: string): string {
    this.need(n, what)
    const p = this.pos
    this.pos = p + n
    return this.buf.toString('utf8', p, p + n)
  }

  /** `n` bytes copied into a new Buffer (the source buffer may be reused by the caller). */
  bytes(n: number, what: string): Buffer {
    this.need(n, what)
    const p = this.pos
    this.pos = p + n
    const out = Buffer.allocUnsafe(n)
    this.buf.copy(out, 0, p, p + n)
    return out
  }

  /** A view of the next `n` bytes without copying; valid only while `buf` is. */
  view(n: number, what: string): Buffer {
    this.need(n, what)
    const p = this.pos
    this.pos = p + n
    return this.buf.subarray(p, p + n)
  }
}
