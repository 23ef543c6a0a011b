/**
 * Consumer-side decoding of the records the Kafka sink writes (`sluice/decoder`):
 *
 * - Confluent wire format (a Schema Registry was configured): byte 0, a 4-byte big-endian
 *   schema id, the Avro binary datum. The writer schema is fetched from the registry by id.
 * - Avro single-object encoding (no registry): C3 01, the 8-byte little-endian CRC-64-AVRO
 *   fingerprint of the writer schema, the datum. The writer schemas are on the compacted
 *   topic `<prefix>.schemas`, keyed by the fingerprint's 8 bytes in lowercase hex, the value
 *   being the schema's JSON; feed them to addSchema() or give a `lookup` function.
 *
 * ```ts
 * import { ChangeEventDecoder } from 'sluice/decoder'
 * const decoder = new ChangeEventDecoder({ registry: 'http://schema-registry:8081' })
 * await consumer.run({ eachMessage: async ({ message }) => {
 *   const key = await decoder.decode(message.key)
 *   const envelope = await decoder.decode(message.value) // null for a tombstone
 * } })
 * ```
 */
import type { Type } from 'avsc'
import { compileReaderSchema } from '../avro/codec.js'
import { RegistryClient, WIRE_HEADER, WIRE_MAGIC } from '../sinks/kafka/registry-client.js'
import { fingerprintOf, SINGLE_OBJECT_HEADER, SINGLE_OBJECT_MAGIC } from '../sinks/kafka/single-object.js'

export { murmur2, partitionForKey } from '../sinks/kafka/partitioner.js'

/** Where the decoder finds writer schemas. */
export interface DecoderOptions {
  /** Schema Registry URL (`user:pass@` allowed) for the Confluent wire format. */
  readonly registry?: string
  readonly registryUsername?: string
  readonly registryPassword?: string
  /** Single-object encoding: the schema JSON for a fingerprint (hex of the 8 header bytes). */
  readonly lookup?: (fingerprintHex: string) => string | undefined | Promise<string | undefined>
}

/** Which of the two encodings a record uses. */
export type Encoding = 'confluent' | 'single-object'

/** The encoding of a serialized key or value, or null when it is neither. */
export function encodingOf(buf: Uint8Array): Encoding | null {
  if (
    buf.length >= SINGLE_OBJECT_HEADER &&
    buf[0] === SINGLE_OBJECT_MAGIC[0] &&
    buf[1] === SINGLE_OBJECT_MAGIC[1]
  )
    return 'single-object'
  if (buf.length >= WIRE_HEADER && buf[0] === WIRE_MAGIC) return 'confluent'
  return null
}

/** Decodes keys and values written by Sluice's Kafka sink. Writer types are cached. */
export class ChangeEventDecoder {
  private readonly registry: RegistryClient | null
  private readonly lookup: DecoderOptions['lookup']
  private readonly byId = new Map<number, Promise<Type>>()
  private readonly byFingerprint = new Map<string, Type>()

  constructor(opts: DecoderOptions = {}) {
    this.registry = opts.registry
      ? new RegistryClient({
          url: opts.registry,
          username: opts.registryUsername,
          password: opts.registryPassword,
        })
      : null
    this.lookup = opts.lookup
  }

  /**
   * Adds a writer schema read from the `<prefix>.schemas` topic (message key and value).
   * Throws when the schema's fingerprint is not `fingerprintHex`.
   */
  addSchema(fingerprintHex: string, schemaJson: string): void {
    const type = compileReaderSchema(JSON.parse(schemaJson))
    const actual = fingerprintOf(type).toString('hex')
    if (actual !== fingerprintHex) {
      throw new Error(`schema topic entry ${fingerprintHex} holds a schema with fingerprint ${actual}`)
    }
    this.byFingerprint.set(fingerprintHex, type)
  }

  /** The writer type of a serialized record. */
  async writerType(buf: Uint8Array): Promise<Type> {
    const enc = encodingOf(buf)
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
    if (enc === 'confluent') {
      if (!this.registry)
        throw new Error('record uses the Confluent wire format: give the decoder a registry URL')
      const id = b.readUInt32BE(1)
      let t = this.byId.get(id)
      if (!t) {
        const registry = this.registry
        t = registry.schemaById(id).then((s) => compileReaderSchema(JSON.parse(s)))
        t.catch(() => this.byId.delete(id))
        this.byId.set(id, t)
      }
      return t
    }
    if (enc === 'single-object') {
      const hex = b.subarray(2, SINGLE_OBJECT_HEADER).toString('hex')
      let t = this.byFingerprint.get(hex)
      if (!t && this.lookup) {
        const json = await this.lookup(hex)
        if (json !== undefined) {
          this.addSchema(hex, json)
          t = this.byFingerprint.get(hex)
        }
      }
      if (!t) throw new Error(`unknown schema fingerprint ${hex}: read the <prefix>.schemas topic first`)
      return t
    }
    throw new Error('not a Sluice record: neither Confluent wire format nor Avro single-object encoding')
  }

  /** Decodes a key or value; null (a tombstone's value, a keyless record's key) stays null. */
  async decode(buf: Uint8Array | null | undefined): Promise<unknown> {
    if (buf === null || buf === undefined) return null
    const type = await this.writerType(buf)
    const header = encodingOf(buf) === 'confluent' ? WIRE_HEADER : SINGLE_OBJECT_HEADER
    return type.fromBuffer(Buffer.from(buf.buffer, buf.byteOffset + header, buf.byteLength - header))
  }
}
