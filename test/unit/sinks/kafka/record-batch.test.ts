import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { gzip as gzipCb } from 'node:zlib'
import { describe, it } from 'node:test'
import { crc32c } from '../../../../sinks/kafka/wire/crc32c.js'
import {
  BATCH_HEADER,
  CODEC_GZIP,
  HeaderKey,
  RecordBatchBuilder,
  varintSize,
  writeVarint,
} from '../../../../sinks/kafka/wire/record-batch.js'

// kafkajs's own RecordBatch decoder and CRC-32C, as independent oracles.
const require = createRequire(import.meta.url)
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{
  firstOffset: string
  lastOffsetDelta: number
  producerId: string
  firstSequence: number
  records: {
    key: Buffer | null
    value: Buffer | null
    offset: string
    headers: Record<string, Buffer | Buffer[]>
  }[]
}>
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number
const gzip = promisify(gzipCb)

describe('CRC-32C', () => {
  it('matches the RFC 3720 (iSCSI) test vectors and the check value', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
    assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa)
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43)
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e)
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c)
    assert.equal(crc32c(Buffer.alloc(0)), 0)
  })

  it("agrees with kafkajs's CRC-32C on random data of every length mod 8, and on sub-ranges", () => {
    for (let n = 0; n < 200; n++) {
      const b = randomBytes(n * 7 + (n % 8))
      assert.equal(crc32c(b), kafkajsCrc32c(b) >>> 0, `length ${b.length}`)
    }
    const b = randomBytes(1000)
    assert.equal(crc32c(b, 13, 777), kafkajsCrc32c(b.subarray(13, 777)) >>> 0)
  })
})

describe('zig-zag varints', () => {
  it('encode as Kafka (protobuf sint32) does', () => {
    const cases: [number, number[]][] = [
      [0, [0]],
      [-1, [1]],
      [1, [2]],
      [63, [126]],
      [-64, [127]],
      [64, [128, 1]],
      [300, [216, 4]],
      [2147483647, [254, 255, 255, 255, 15]],
      [-2147483648, [255, 255, 255, 255, 15]],
    ]
    for (const [n, bytes] of cases) {
      const b = Buffer.alloc(5)
      const end = writeVarint(b, 0, n)
      assert.deepEqual([...b.subarray(0, end)], bytes, String(n))
      assert.equal(varintSize(n), bytes.length)
    }
  })
})

describe('RecordBatch v2 builder', () => {
  const hPos = new HeaderKey('sluice.position')
  const hOp = new HeaderKey('sluice.op')

  it("decodes with kafkajs's RecordBatch decoder: keys, values, tombstones, headers, offsets, a valid CRC", async () => {
    const b = new RecordBatchBuilder(100) // small on purpose: it has to grow
    const want: { key: Buffer | null; value: Buffer | null; pos: string | null; op: string }[] = []
    for (let i = 0; i < 500; i++) {
      const key = i % 50 === 7 ? null : randomBytes(i % 20)
      const value = i % 10 === 3 ? null : randomBytes((i * 37) % 700)
      const pos = i % 3 === 0 ? null : `0/${(i * 997).toString(16).toUpperCase()}ü` // non-ASCII too
      want.push({ key, value, pos, op: 'cud'[i % 3]! })
      if (pos === null) b.append(key, value)
      else b.append(key, value, hPos, pos, hOp, 'cud'[i % 3]!)
    }
    const batch = b.finish()
    assert.equal(batch.readInt32BE(8), batch.length - 12, 'batchLength')
    assert.equal(batch[16], 2, 'magic')
    assert.equal(batch.readUInt32BE(17), crc32c(batch, 21), 'CRC-32C over attributes..end')
    assert.equal(batch.readUInt32BE(17), kafkajsCrc32c(batch.subarray(21)) >>> 0)
    const d = await decodeBatch(new Decoder(batch))
    assert.equal(d.firstOffset, '0')
    assert.equal(d.lastOffsetDelta, 499)
    assert.equal(d.producerId, '-1')
    assert.equal(d.firstSequence, -1)
    assert.equal(d.records.length, 500)
    d.records.forEach((r, i) => {
      const w = want[i]!
      assert.equal(r.offset, String(i))
      assert.deepEqual(r.key, w.key === null ? null : w.key, `key ${i}`)
      assert.deepEqual(r.value, w.value === null ? null : w.value, `value ${i}`)
      if (w.pos === null) assert.deepEqual(r.headers, {})
      else {
        assert.equal(String(r.headers['sluice.position']), w.pos)
        assert.equal(String(r.headers['sluice.op']), w.op)
      }
    })
  })

  it('reset() starts a new batch in the same builder; a gzip batch decodes too', async () => {
    const b = new RecordBatchBuilder()
    b.append(Buffer.from('a'), Buffer.from('first'))
    b.finish()
    b.reset()
    assert.equal(b.records, 0)
    assert.equal(b.size, BATCH_HEADER)
    for (let i = 0; i < 100; i++)
      b.append(Buffer.from(`k${i}`), Buffer.from(`value ${i} `.repeat(20)), hOp, 'c')
    const batch = b.finishCompressed(await gzip(b.recordsSection()), CODEC_GZIP)
    assert.equal(batch.readInt16BE(21) & 7, CODEC_GZIP)
    assert.equal(batch.readUInt32BE(17), crc32c(batch, 21))
    const d = await decodeBatch(new Decoder(batch))
    assert.equal(d.records.length, 100)
    assert.equal(String(d.records[99]!.key), 'k99')
    assert.equal(String(d.records[42]!.value), 'value 42 '.repeat(20))
    assert.equal(String(d.records[0]!.headers['sluice.op']), 'c')
  })
})
