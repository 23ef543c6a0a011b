import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import avro from 'avsc'
import { compileReaderSchema, compileSchema, wideLong } from '../../../../avro/codec.js'
import {
  canonicalForm,
  fingerprintOf,
  rabinFingerprint64,
  singleObjectHeader,
} from '../../../../sinks/kafka/single-object.js'

const fp = (s: string): bigint => BigInt.asIntN(64, rabinFingerprint64(Buffer.from(s, 'utf8')))

describe('CRC-64-AVRO fingerprint', () => {
  it('matches the Avro reference fingerprints (schema-tests.txt, as Java signed longs)', () => {
    assert.equal(fp('"null"'), 7195948357588979594n)
    assert.equal(fp('"boolean"'), -6970731678124411036n)
    assert.equal(fp('"int"'), 8247732601305521295n)
  })

  it('fingerprints the Parsing Canonical Form: docs, defaults and connect.* attributes do not count', () => {
    const a = compileSchema({
      type: 'record',
      name: 'Key',
      namespace: 'shop.public.t',
      doc: 'the key',
      fields: [{ name: 'id', type: ['null', 'int'], default: null }],
      'connect.name': 'shop.public.t.Key',
    })
    const b = avro.Type.forSchema(
      { type: 'record', name: 'shop.public.t.Key', fields: [{ name: 'id', type: ['null', 'int'] }] },
      { wrapUnions: false },
    )
    assert.equal(
      canonicalForm(a),
      '{"name":"shop.public.t.Key","type":"record","fields":[{"name":"id","type":["null","int"]}]}',
    )
    assert.deepEqual(fingerprintOf(a), fingerprintOf(b))
  })

  it('a wide long canonicalises as long, so writer and reader fingerprints agree', () => {
    const schema = { type: 'record', name: 'R', fields: [{ name: 'n', type: wideLong() }] }
    const writer = compileSchema(schema)
    const reader = compileReaderSchema(JSON.parse(JSON.stringify(schema)))
    assert.equal(canonicalForm(writer), '{"name":"R","type":"record","fields":[{"name":"n","type":"long"}]}')
    assert.deepEqual(fingerprintOf(writer), fingerprintOf(reader))
  })

  it('the header is C3 01 then the fingerprint little-endian', () => {
    const t = avro.Type.forSchema('null')
    const h = singleObjectHeader(t)
    assert.equal(h.length, 10)
    assert.deepEqual([...h.subarray(0, 2)], [0xc3, 0x01])
    assert.equal(h.readBigInt64LE(2), 7195948357588979594n)
  })
})
