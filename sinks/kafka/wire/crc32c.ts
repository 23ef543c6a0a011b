/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka's
 * RecordBatch (magic v2), computed slicing-by-8: eight 256-entry tables, eight bytes per step.
 */

const POLY = 0x82f63b78

/** T[k * 256 + b]: the CRC of byte b followed by k zero bytes. */
const T = new Int32Array(8 * 256)
for (let b = 0; b < 256; b++) {
  let c = b
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1
  T[b] = c
}
for (let b = 0; b < 256; b++) {
  let c = T[b]!
  for (let k = 1; k < 8; k++) {
    c = T[c & 0xff]! ^ (c >>> 8)
    T[k * 256 + b] = c
  }
}

/** CRC-32C of `data[start, end)`, unsigned. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  let crc = ~0
  let i = start
  const stop8 = end - ((end - start) & 7)
  while (i < stop8) {
    const lo = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))
    crc =
      T[7 * 256 + (lo & 0xff)]! ^
      T[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      T[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      T[4 * 256 + (lo >>> 24)]! ^
      T[3 * 256 + data[i + 4]!]! ^
      T[2 * 256 + data[i + 5]!]! ^
      T[256 + data[i + 6]!]! ^
      T[data[i + 7]!]!
    i += 8
  }
  while (i < end) crc = T[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}
