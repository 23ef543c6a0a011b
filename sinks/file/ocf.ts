import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { deflateRaw } from 'node:zlib'

/**
 * Avro Object Container File pieces (Avro 1.11 spec, "Object Container Files"):
 *
 *   file   = header block*
 *   header = magic "Obj" 0x01, metadata map<bytes>, 16-byte sync marker
 *   block  = object count (long), byte size of the (compressed) data (long), the data, sync marker
 *
 * Every `long` is a zig-zag varint. A map is written as blocks of (count, entries...) ended
 * by a zero count; each key is a string and each value bytes, both length-prefixed by a long.
 */
export const OCF_MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]) // 'O' 'b' 'j' 1

/** The sync marker is 16 random bytes, repeated after every block. */
export const SYNC_SIZE = 16

/** `avro.codec` values we write: `null` (no compression) or `deflate` (raw RFC 1951, no zlib header). */
export type OcfCodec = 'null' | 'deflate'

const deflateRawAsync = promisify(deflateRaw)

/**
 * Zig-zag varint encoding of an Avro `long`: z = (n << 1) ^ (n >> 63), written 7 bits per
 * byte, low group first, high bit set on every byte but the last. z itself can exceed 2^53,
 * so it is never formed: its low bit is the sign and the rest is m = n or -n - 1 (exact for
 * every safe integer); the first byte takes the sign and 6 bits of m, later bytes 7 bits.
 */
export function zigzagLong(n: number): Buffer {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer: ${n}`)
  const sign = n < 0 ? 1 : 0
  let m = sign ? -n - 1 : n
  const out: number[] = []
  let byte = ((m % 0x40) << 1) | sign
  m = Math.floor(m / 0x40)
  while (m > 0) {
    out.push(byte | 0x80)
    byte = m % 0x80
    m = Math.floor(m / 0x80)
  }
  out.push(byte)
  return Buffer.from(out)
}

/** A length-prefixed Avro `bytes` / `string` value. */
function lengthPrefixed(b: Buffer): Buffer {
  return Buffer.concat([zigzagLong(b.length), b])
}

/** A new random sync marker. */
export function newSyncMarker(): Buffer {
  return randomBytes(SYNC_SIZE)
}

/**
 * The file header: magic, the metadata map with `avro.schema` (the writer schema's JSON,
 * written verbatim so non-standard attributes such as `connect.*` survive) and `avro.codec`,
 * then the sync marker.
 */
export function ocfHeader(schemaJson: string, codec: OcfCodec, sync: Buffer): Buffer {
  if (sync.length !== SYNC_SIZE) throw new RangeError(`sync marker must be ${SYNC_SIZE} bytes`)
  const meta: [string, Buffer][] = [
    ['avro.schema', Buffer.from(schemaJson, 'utf8')],
    ['avro.codec', Buffer.from(codec, 'utf8')],
  ]
  const parts: Buffer[] = [OCF_MAGIC, zigzagLong(meta.length)]
  for (const [k, v] of meta) parts.push(lengthPrefixed(Buffer.from(k, 'utf8')), lengthPrefixed(v))
  parts.push(zigzagLong(0), sync) // end of the map, then the marker
  return Buffer.concat(parts)
}

/**
 * One data block holding `count` records whose binary encodings are concatenated in
 * `records` (compressed as a whole with `codec`), followed by the sync marker.
 */
export async function ocfBlock(
  records: readonly Buffer[],
  count: number,
  codec: OcfCodec,
  sync: Buffer,
): Promise<Buffer> {
  const raw = records.length === 1 ? records[0]! : Buffer.concat(records)
  const data = codec === 'deflate' ? await deflateRawAsync(raw) : raw
  return Buffer.concat([zigzagLong(count), zigzagLong(data.length), data, sync])
}
