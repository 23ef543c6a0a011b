import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import avro from 'avsc'
import { OCF_MAGIC, newSyncMarker, ocfBlock, ocfHeader, zigzagLong } from '../../../../sinks/file/ocf.js'

/** Decodes an OCF held in memory with avsc's own container decoder. */
function decode(buf: Buffer): Promise<{ records: unknown[]; codec: string; schema: unknown }> {
  return new Promise((resolve, reject) => {
    const records: unknown[] = []
    let codec = ''
    let schema: unknown
    Readable.from([buf])
      .pipe(new avro.streams.BlockDecoder())
      .on('metadata', (_type: unknown, c: string, header: { meta: Record<string, Buffer> }) => {
        codec = c
        schema = JSON.parse(header.meta['avro.schema']!.toString())
      })
      .on('data', (r: unknown) => records.push(r))
      .on('error', reject)
      .on('end', () => resolve({ records, codec, schema }))
  })
}

describe('zigzagLong', () => {
  it('encodes the Avro spec examples and large safe integers', () => {
    const hex = (n: number): string => zigzagLong(n).toString('hex')
    assert.equal(hex(0), '00')
    assert.equal(hex(-1), '01')
    assert.equal(hex(1), '02')
    assert.equal(hex(-2), '03')
    assert.equal(hex(2), '04')
    assert.equal(hex(-64), '7f')
    assert.equal(hex(64), '8001')
    // Reference decoder in bigint arithmetic (avsc refuses longs near 2^53 as imprecise).
    const decodeLong = (b: Buffer): bigint => {
      let z = 0n
      b.forEach((byte, i) => (z |= BigInt(byte & 0x7f) << BigInt(7 * i)))
      return z & 1n ? -(z >> 1n) - 1n : z >> 1n
    }
    for (const n of [
      300,
      -300,
      2 ** 31,
      -(2 ** 31) - 1,
      2 ** 40 + 7,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
    ]) {
      assert.equal(decodeLong(zigzagLong(n)), BigInt(n), `round trip of ${n}`)
    }
    assert.equal(avro.Type.forSchema('long').fromBuffer(zigzagLong(-(2 ** 40) - 3)), -(2 ** 40) - 3)
    assert.throws(() => zigzagLong(1.5), RangeError)
  })
})

describe('OCF header and blocks', () => {
  const schema = {
    type: 'record',
    name: 'R',
    fields: [
      { name: 'n', type: 'long' },
      { name: 'amount', type: { type: 'bytes', 'connect.name': 'org.apache.kafka.connect.data.Decimal' } },
    ],
  }
  const type = avro.Type.forSchema(schema as avro.Schema)
  const rows = Array.from({ length: 50 }, (_, i) => ({ n: i * 1000, amount: Buffer.from([i]) }))

  for (const codec of ['null', 'deflate'] as const) {
    it(`is readable by avsc with codec ${codec}, attributes of the schema kept`, async () => {
      const sync = newSyncMarker()
      const header = ocfHeader(JSON.stringify(schema), codec, sync)
      assert.deepEqual(header.subarray(0, 4), OCF_MAGIC)
      assert.deepEqual(header.subarray(-16), sync)
      const b1 = await ocfBlock(
        rows.slice(0, 20).map((r) => type.toBuffer(r)),
        20,
        codec,
        sync,
      )
      const b2 = await ocfBlock(
        rows.slice(20).map((r) => type.toBuffer(r)),
        30,
        codec,
        sync,
      )
      const out = await decode(Buffer.concat([header, b1, b2]))
      assert.equal(out.codec, codec)
      assert.equal(
        (out.schema as { fields: { type: Record<string, unknown> }[] }).fields[1]!.type['connect.name'],
        'org.apache.kafka.connect.data.Decimal',
      )
      assert.deepEqual(
        out.records.map((r) => ({ ...(r as object) })),
        rows,
      )
    })
  }

  it('compresses deflate blocks', async () => {
    const sync = newSyncMarker()
    const recs = Array.from({ length: 200 }, () => type.toBuffer({ n: 1, amount: Buffer.alloc(20) }))
    const plain = await ocfBlock(recs, recs.length, 'null', sync)
    const deflated = await ocfBlock(recs, recs.length, 'deflate', sync)
    assert.ok(deflated.length < plain.length / 4, `${deflated.length} vs ${plain.length}`)
  })
})
