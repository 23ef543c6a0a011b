import { crc32c } from './crc32c.js'

/**
 * Kafka RecordBatch (magic v2) layout: the fixed header, then the records.
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 | crc uint32 |
 *   attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 |
 *   producerId int64 | producerEpoch int16 | baseSequence int32 | recordCount int32 | records
 *
 * The CRC-32C covers everything from attributes to the end.
 */
export const BATCH_HEADER = 61
const OFF_LENGTH = 8
const OFF_EPOCH = 12
const OFF_MAGIC = 16
const OFF_CRC = 17
const OFF_ATTRIBUTES = 21
const OFF_LAST_DELTA = 23
const OFF_BASE_TS = 27
const OFF_MAX_TS = 35
const OFF_PRODUCER_ID = 43
const OFF_PRODUCER_EPOCH = 51
const OFF_BASE_SEQUENCE = 53
const OFF_COUNT = 57

/** Attribute bits 0-2: the compression codec of the records section. */
export const CODEC_GZIP = 1

/** Bytes of the zig-zag varint of `n` (a 32-bit signed value). */
export function varintSize(n: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0
  let size = 1
  while (v >= 0x80) {
    v >>>= 7
    size++
  }
  return size
}

/** Writes the zig-zag varint of `n` (32-bit signed) at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[pos++] = v
  return pos
}

/** The length of `s` when it is short and all ASCII (one byte per character in UTF-8), else -1. */
function asciiLength(s: string): number {
  const n = s.length
  if (n > 64) return -1
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return -1
  return n
}

/** Writes the ASCII string `s` at `pos` (short header values: cheaper than Buffer.write). */
function writeAscii(buf: Buffer, pos: number, s: string): number {
  const n = s.length
  for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i)
  return pos + n
}

/** One record header whose key is fixed: its key bytes are encoded once. */
export class HeaderKey {
  readonly bytes: Buffer
  /** varint(key length) + key. */
  readonly encoded: Buffer

  constructor(readonly name: string) {
    this.bytes = Buffer.from(name, 'utf8')
    const e = Buffer.allocUnsafe(varintSize(this.bytes.length) + this.bytes.length)
    this.bytes.copy(e, writeVarint(e, 0, this.bytes.length))
    this.encoded = e
  }
}

/**
 * Builds one RecordBatch (magic v2, no producer id) for one partition by appending records
 * straight into one growing buffer. `finish()` fills in the header and CRC and returns the
 * batch bytes (a view of the builder's buffer, valid until the next `reset()`).
 */
export class RecordBatchBuilder {
  private buf: Buffer
  private pos = BATCH_HEADER
  private count = 0
  private baseTimestamp = 0

  constructor(initial = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(initial, BATCH_HEADER + 64))
  }

  /** Records appended since the last reset. */
  get records(): number {
    return this.count
  }

  /** Bytes of the batch so far (header included). */
  get size(): number {
    return this.pos
  }

  /** Empties the builder for the next batch, keeping its buffer (shrunk back if it grew very large). */
  reset(maxKeep = 4 * 1024 * 1024): void {
    if (this.buf.length > maxKeep) this.buf = Buffer.allocUnsafe(maxKeep)
    this.pos = BATCH_HEADER
    this.count = 0
  }

  private ensure(extra: number): void {
    const need = this.pos + extra
    if (need <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /**
   * Appends one record. `value` null is a tombstone. Headers: `h1` (with the string value
   * `v1`, written as UTF-8) and optionally `h2`/`v2`. Every record of a batch carries the
   * batch's timestamp (delta 0).
   */
  append(
    key: Uint8Array | null,
    value: Uint8Array | null,
    h1: HeaderKey | null = null,
    v1 = '',
    h2: HeaderKey | null = null,
    v2 = '',
  ): void {
    if (this.count === 0) this.baseTimestamp = Date.now()
    const keyLen = key ? key.length : -1
    const valueLen = value ? value.length : -1
    const a1 = h1 ? asciiLength(v1) : 0
    const a2 = h2 ? asciiLength(v2) : 0
    const v1Len = a1 >= 0 ? a1 : Buffer.byteLength(v1, 'utf8')
    const v2Len = a2 >= 0 ? a2 : Buffer.byteLength(v2, 'utf8')
    const headers = (h1 ? 1 : 0) + (h2 ? 1 : 0)
    const offsetDelta = this.count
    // attributes, timestampDelta (0), offsetDelta, key, value, header count, headers
    let body =
      1 +
      1 +
      varintSize(offsetDelta) +
      varintSize(keyLen) +
      Math.max(0, keyLen) +
      varintSize(valueLen) +
      Math.max(0, valueLen) +
      1
    if (h1) body += h1.encoded.length + varintSize(v1Len) + v1Len
    if (h2) body += h2.encoded.length + varintSize(v2Len) + v2Len
    this.ensure(5 + body)
    const buf = this.buf
    let p = writeVarint(buf, this.pos, body)
    buf[p++] = 0 // attributes
    buf[p++] = 0 // timestampDelta
    p = writeVarint(buf, p, offsetDelta)
    p = writeVarint(buf, p, keyLen)
    if (key) {
      buf.set(key, p)
      p += keyLen
    }
    p = writeVarint(buf, p, valueLen)
    if (value) {
      buf.set(value, p)
      p += valueLen
    }
    buf[p++] = headers << 1 // zig-zag of 0..2 fits one byte
    if (h1) {
      h1.encoded.copy(buf, p)
      p = writeVarint(buf, p + h1.encoded.length, v1Len)
      p = a1 >= 0 ? writeAscii(buf, p, v1) : p + buf.write(v1, p, v1Len, 'utf8')
    }
    if (h2) {
      h2.encoded.copy(buf, p)
      p = writeVarint(buf, p + h2.encoded.length, v2Len)
      p = a2 >= 0 ? writeAscii(buf, p, v2) : p + buf.write(v2, p, v2Len, 'utf8')
    }
    this.pos = p
    this.count++
  }

  /** Completes the header (attributes 0: uncompressed) and returns the batch. */
  finish(): Buffer {
    return sealBatch(this.buf.subarray(0, this.pos), 0, this.count, this.baseTimestamp)
  }

  /** The records section alone (for compression). */
  recordsSection(): Buffer {
    return this.buf.subarray(BATCH_HEADER, this.pos)
  }

  /** A compressed batch: `compressed` is the records section through the codec in `attributes`. */
  finishCompressed(compressed: Buffer, attributes: number): Buffer {
    const out = Buffer.allocUnsafe(BATCH_HEADER + compressed.length)
    compressed.copy(out, BATCH_HEADER)
    return sealBatch(out, attributes, this.count, this.baseTimestamp)
  }
}

/** Writes the header of the batch held in `batch` (records already after the header) and its CRC. */
function sealBatch(batch: Buffer, attributes: number, count: number, baseTimestamp: number): Buffer {
  batch.writeBigInt64BE(0n, 0)
  batch.writeInt32BE(batch.length - 12, OFF_LENGTH)
  batch.writeInt32BE(-1, OFF_EPOCH)
  batch[OFF_MAGIC] = 2
  batch.writeInt16BE(attributes, OFF_ATTRIBUTES)
  batch.writeInt32BE(count - 1, OFF_LAST_DELTA)
  const ts = BigInt(baseTimestamp)
  batch.writeBigInt64BE(ts, OFF_BASE_TS)
  batch.writeBigInt64BE(ts, OFF_MAX_TS)
  batch.writeBigInt64BE(-1n, OFF_PRODUCER_ID)
  batch.writeInt16BE(-1, OFF_PRODUCER_EPOCH)
  batch.writeInt32BE(-1, OFF_BASE_SEQUENCE)
  batch.writeInt32BE(count, OFF_COUNT)
  batch.writeUInt32BE(crc32c(batch, OFF_ATTRIBUTES, batch.length), OFF_CRC)
  return batch
}
