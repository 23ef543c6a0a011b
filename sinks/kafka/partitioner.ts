/**
 * The partition of a keyed record, computed exactly as the Java client's default
 * partitioner does (`BuiltInPartitioner.partitionForKey`):
 *
 *   toPositive(murmur2(serializedKey)) % numPartitions,  toPositive(x) = x & 0x7fffffff
 *
 * so Java (and librdkafka `murmur2_random`) producers and consumers co-partition with us.
 */

/** Kafka's murmur2 seed (`Utils.murmur2`). */
const SEED = 0x9747b28c
/** MurmurHash2 mixing constants. */
const M = 0x5bd1e995
const R = 24

/**
 * MurmurHash2 (32-bit) of `data`, as Kafka's `Utils.murmur2` computes it: a signed 32-bit
 * result. Math.imul gives the 32-bit wrap-around multiplication Java's int arithmetic has;
 * `>>>` is Java's unsigned shift.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  let h = SEED ^ length
  const length4 = length >>> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24)
    k = Math.imul(k, M)
    k ^= k >>> R
    k = Math.imul(k, M)
    h = Math.imul(h, M)
    h ^= k
  }
  // The 1 to 3 trailing bytes, highest first (Java's switch falls through the cases).
  const tail = length & ~3
  const rest = length & 3
  if (rest >= 3) h ^= data[tail + 2]! << 16
  if (rest >= 2) h ^= data[tail + 1]! << 8
  if (rest >= 1) {
    h ^= data[tail]!
    h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not Math.abs: abs(MIN_VALUE) is negative). */
export function toPositive(n: number): number {
  return n & 0x7fffffff
}

/** The partition of a record with these serialized key bytes among `numPartitions`. */
export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  return toPositive(murmur2(key)) % numPartitions
}
