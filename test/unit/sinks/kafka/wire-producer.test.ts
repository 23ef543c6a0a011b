import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { SinkError } from '../../../../pipeline/errors.js'
import { Connection } from '../../../../sinks/kafka/wire/connection.js'
import { WireProducer } from '../../../../sinks/kafka/wire/producer.js'
import { RecordBatchBuilder } from '../../../../sinks/kafka/wire/record-batch.js'

const require = createRequire(import.meta.url)
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number

/**
 * A one-broker fake speaking just ApiVersions v0, Metadata v2 and Produce v7, whose answers
 * the test scripts: per-topic metadata errors, a queue of produce error codes, or silence.
 * It checks every batch's CRC-32C with kafkajs's implementation and counts records.
 */
class FakeBroker {
  private server = net.createServer((s) => this.serve(s))
  port = 0
  produceErrors: number[] = []
  topicErrors = new Map<string, number>()
  silent = false
  metadataRequests = 0
  records = 0
  badCrc = 0

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.port = (this.server.address() as net.AddressInfo).port
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()))
  }

  private serve(s: net.Socket): void {
    let buf = Buffer.alloc(0)
    s.on('error', () => undefined)
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const frame = buf.subarray(4, 4 + buf.readInt32BE(0))
        buf = buf.subarray(4 + frame.length)
        const body = this.answer(frame)
        if (body === null) continue
        const head = Buffer.alloc(8)
        head.writeInt32BE(body.length + 4, 0)
        head.writeInt32BE(frame.readInt32BE(4), 4)
        s.write(Buffer.concat([head, body]))
      }
    })
  }

  private answer(frame: Buffer): Buffer | null {
    const api = frame.readInt16BE(0)
    let p = 8 + 2 + frame.readInt16BE(8) // past the client id
    const out: Buffer[] = []
    const i16 = (v: number): void => void out.push(Buffer.from([(v >> 8) & 0xff, v & 0xff]))
    const i32 = (v: number): void => {
      const b = Buffer.alloc(4)
      b.writeInt32BE(v)
      out.push(b)
    }
    const i64 = (v: bigint): void => {
      const b = Buffer.alloc(8)
      b.writeBigInt64BE(v)
      out.push(b)
    }
    const str = (v: string | null): void => {
      if (v === null) return i16(-1)
      i16(Buffer.byteLength(v))
      out.push(Buffer.from(v))
    }
    const readStr = (): string => {
      const n = frame.readInt16BE(p)
      const v = frame.toString('utf8', p + 2, p + 2 + n)
      p += 2 + Math.max(0, n)
      return v
    }
    if (api === 18) {
      i16(0)
      i32(3)
      for (const [k, max] of [
        [0, 7],
        [3, 2],
        [18, 0],
      ]) {
        i16(k!)
        i16(0)
        i16(max!)
      }
    } else if (api === 3) {
      this.metadataRequests++
      const n = frame.readInt32BE(p)
      p += 4
      const topics: string[] = []
      for (let i = 0; i < n; i++) topics.push(readStr())
      i32(1)
      i32(1)
      str('127.0.0.1')
      i32(this.port)
      str(null)
      str(null) // cluster id
      i32(1) // controller
      i32(topics.length)
      for (const t of topics) {
        const err = this.topicErrors.get(t) ?? 0
        i16(err)
        str(t)
        out.push(Buffer.from([0]))
        if (err !== 0) {
          i32(0)
          continue
        }
        i32(1)
        i16(0)
        i32(0)
        i32(1)
        i32(1)
        i32(1)
        i32(1)
        i32(1)
      }
    } else if (api === 0) {
      if (this.silent) return null
      p += 2 + 2 + 4 // transactional id (null), acks, timeout
      const nt = frame.readInt32BE(p)
      p += 4
      const code = this.produceErrors.shift() ?? 0
      i32(nt)
      for (let t = 0; t < nt; t++) {
        str(readStr())
        const np = frame.readInt32BE(p)
        p += 4
        i32(np)
        for (let k = 0; k < np; k++) {
          const partition = frame.readInt32BE(p)
          const size = frame.readInt32BE(p + 4)
          const batch = frame.subarray(p + 8, p + 8 + size)
          p += 8 + size
          if (batch.readUInt32BE(17) !== kafkajsCrc32c(batch.subarray(21)) >>> 0) this.badCrc++
          if (code === 0) this.records += batch.readInt32BE(57)
          i32(partition)
          i16(code)
          i64(0n)
          i64(-1n)
          i64(0n)
        }
      }
      i32(0) // throttle
    }
    return Buffer.concat(out)
  }
}

const log = pino({ level: 'silent' })
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const oneRecord = (topic: string): { topic: string; partition: number; batch: Buffer }[] => {
  const b = new RecordBatchBuilder()
  b.append(Buffer.from('k'), Buffer.from('v'))
  b.append(Buffer.from('k2'), null)
  return [{ topic, partition: 0, batch: b.finish() }]
}

describe('wire producer against a scripted fake broker', () => {
  const broker = new FakeBroker()
  let producer: WireProducer
  before(async () => {
    await broker.start()
    producer = new WireProducer({
      brokers: [`127.0.0.1:${broker.port}`],
      clientId: 't',
      requestTimeoutMs: 500,
      connectTimeoutMs: 500,
      log,
    })
    await producer.connect()
  })
  after(async () => {
    producer.close()
    await broker.stop()
  })

  it('NOT_LEADER_OR_FOLLOWER is retriable and refreshes the metadata before the retry, which lands', async () => {
    assert.equal(await producer.partitionCount('t1', sleep), 1)
    broker.produceErrors = [6]
    const f = await producer.produce(oneRecord('t1'), -1, 1000)
    assert.equal(f.length, 1)
    assert.equal(f[0]!.code, 6)
    assert.equal(f[0]!.retriable, true)
    assert.match(f[0]!.message, /NOT_LEADER_OR_FOLLOWER for t1\[0\]/)
    const before = broker.metadataRequests
    assert.deepEqual(await producer.produce(oneRecord('t1'), -1, 1000), [])
    assert.equal(broker.metadataRequests, before + 1, 'one metadata refresh before the retry')
    assert.equal(broker.records, 2)
    assert.equal(broker.badCrc, 0, 'every batch has a valid CRC-32C')
  })

  it('MESSAGE_TOO_LARGE is permanent', async () => {
    broker.produceErrors = [10]
    const f = await producer.produce(oneRecord('t1'), -1, 1000)
    assert.equal(f[0]!.code, 10)
    assert.equal(f[0]!.retriable, false)
    assert.match(f[0]!.message, /MESSAGE_TOO_LARGE/)
  })

  it('TOPIC_AUTHORIZATION_FAILED in the metadata is a permanent SinkError naming the topic and the fix', async () => {
    broker.topicErrors.set('secret', 29)
    await assert.rejects(producer.partitionCount('secret', sleep), (err: unknown) => {
      assert.ok(err instanceof SinkError)
      assert.equal(err.code, 'KAFKA_SEND_FAILED')
      assert.equal(err.retriable, false)
      assert.match(err.message, /topic secret.*TOPIC_AUTHORIZATION_FAILED.*grant the client WRITE/)
      return true
    })
  })

  it('a broker that does not answer: the request times out as a retriable connection failure, then a new connection works', async () => {
    broker.silent = true
    const started = Date.now()
    const f = await producer.produce(oneRecord('t1'), -1, 100)
    assert.equal(f.length, 1)
    assert.equal(f[0]!.code, null)
    assert.equal(f[0]!.retriable, true)
    assert.match(f[0]!.message, /timed out/)
    assert.ok(Date.now() - started < 5000)
    broker.silent = false
    const records = broker.records
    assert.deepEqual(await producer.produce(oneRecord('t1'), -1, 1000), [])
    assert.equal(broker.records, records + 2)
  })
})

describe('wire connection framing', () => {
  it('reassembles a response split across chunks and splits two responses that arrive in one chunk', async () => {
    const server = net.createServer((s) => {
      let buf = Buffer.alloc(0)
      const ids: number[] = []
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
          ids.push(buf.readInt32BE(8))
          buf = buf.subarray(4 + buf.readInt32BE(0))
        }
        if (ids.length < 3) return
        const frame = (id: number, body: string): Buffer => {
          const b = Buffer.from(body)
          const f = Buffer.alloc(8 + b.length)
          f.writeInt32BE(4 + b.length, 0)
          f.writeInt32BE(id, 4)
          b.copy(f, 8)
          return f
        }
        const first = frame(ids[0]!, 'x'.repeat(1000))
        const rest = Buffer.concat([frame(ids[1]!, 'second'), frame(ids[2]!, 'third')])
        // The first response in three pieces (the size itself split), the other two in one write.
        s.write(first.subarray(0, 2))
        setTimeout(() => s.write(first.subarray(2, 500)), 30)
        setTimeout(() => s.write(Buffer.concat([first.subarray(500), rest])), 60)
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const c = new Connection('127.0.0.1', (server.address() as net.AddressInfo).port, 't', 1000, 2000)
    try {
      const rs = await Promise.all([c.request(18, 0, []), c.request(18, 0, []), c.request(18, 0, [])])
      assert.deepEqual(
        rs.map((r) => r.remaining().toString()),
        ['x'.repeat(1000), 'second', 'third'],
      )
    } finally {
      c.close()
      await new Promise<void>((r) => server.close(() => r()))
    }
  })
})
