import type { Type } from 'avsc'

/**
 * Avro single-object encoding (Avro 1.11 spec, "Single-object encoding"):
 *
 *   C3 01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's
 *   Parsing Canonical Form | the Avro binary encoding of the datum
 *
 * avsc's Type#fingerprint is an MD5/SHA digest of the canonical form, not the Rabin
 * fingerprint the spec requires, so the 64-bit fingerprint is computed here.
 */
export const SINGLE_OBJECT_MAGIC = Buffer.from([0xc3, 0x01])

/** Length of the single-object header: two marker bytes and the 8-byte fingerprint. */
export const SINGLE_OBJECT_HEADER = 10

/** CRC-64-AVRO's empty value (the spec's `EMPTY`), also its polynomial's seed. */
const EMPTY = 0xc15d213aa4d7a795n
const MASK = (1n << 64n) - 1n

/** The spec's 256-entry table: FP_TABLE[i] = i shifted right 8 times, xor-ing EMPTY on each set low bit. */
const FP_TABLE: bigint[] = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i)
  for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n))
  return fp & MASK
})

/** CRC-64-AVRO (Rabin) fingerprint of `bytes`, as an unsigned 64-bit bigint. */
export function rabinFingerprint64(bytes: Uint8Array): bigint {
  let fp = EMPTY
  for (const b of bytes) fp = (fp >> 8n) ^ FP_TABLE[Number((fp ^ BigInt(b)) & 0xffn)]!
  return fp
}

/**
 * The Parsing Canonical Form of a compiled type: avsc's `schema()` without attributes is
 * that form (full names; only name, type, fields, symbols, items, values, size, in that
 * order; no doc, aliases or defaults).
 */
export function canonicalForm(type: Type): string {
  return JSON.stringify(type.schema())
}

/** The 8 little-endian fingerprint bytes of a type's canonical form. */
export function fingerprintOf(type: Type): Buffer {
  const fp = rabinFingerprint64(Buffer.from(canonicalForm(type), 'utf8'))
  const out = Buffer.alloc(8)
  out.writeBigUInt64LE(fp)
  return out
}

/** The 10-byte single-object header for a type. */
export function singleObjectHeader(type: Type): Buffer {
  return Buffer.concat([SINGLE_OBJECT_MAGIC, fingerprintOf(type)])
}
