import assert from 'node:assert/strict'
import { PassThrough, Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { makePosition } from '../../../connectors/postgres/position.js'
import { postgresSource } from '../../../connectors/postgres/source-info.js'
import { EncodeError, SinkError } from '../../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent } from '../../../pipeline/event.js'
import type { TableSchema } from '../../../pipeline/schema.js'
import type { AvroOptions } from '../../../pipeline/source.js'
import { StdoutSink, stdoutConfig } from '../../../sinks/stdout.js'

const AVRO: AvroOptions = { types: 'debezium', prefix: 'shop', unsupported: 'fail' }

const TABLE: TableSchema = {
  connector: 'postgresql',
  db: 'shop',
  schema: 'public',
  table: 'orders',
  version: 1,
  keyColumns: ['id'],
  columns: [
    { name: 'id', sourceType: 'int4', nullable: false, avro: 'int', fromText: Number },
    {
      name: 'amount',
      sourceType: 'numeric(10,2)',
      nullable: true,
      avro: {
        type: 'bytes',
        'connect.version': 1,
        'connect.parameters': { scale: '2', 'connect.decimal.precision': '10' },
        'connect.name': 'org.apache.kafka.connect.data.Decimal',
      },
      fromText: String,
    },
  ],
}

function ev(id: number, cents: number | null = id * 100 + 5): ChangeEvent {
  const position = makePosition(0x2000n, '1', id)
  let amount: Buffer | null = null
  if (cents !== null) {
    amount = Buffer.alloc(4)
    amount.writeInt32BE(cents)
  }
  return {
    op: 'c',
    table: TABLE,
    key: { id },
    before: null,
    after: { id, amount },
    position,
    source: postgresSource('shop', 'shop', 'public', 'orders', 1763712000000, 'false', 5, 8192, position),
    transaction: null,
    ts_ms: 1763712000001,
  }
}

const batch = (events: ChangeEvent[]): ChangeBatch => ({
  events,
  checkpoint: events.at(-1)?.position ?? makePosition(0x2000n, '1', 999),
  bytes: 0,
})

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('stdout sink', () => {
  it('prints one JSON line per event, in order, decimals as strings', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (c: Buffer) => (text += c.toString()))
    const s = new StdoutSink(AVRO, out)
    await s.open()
    assert.equal(s.delivery, 'at-least-once')
    await s.write(batch([ev(1), ev(2, -1250)]))
    await s.write(batch([]))
    await s.write(batch([ev(3, null)]))
    await s.close()
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.deepEqual(
      lines.map((l) => l.after),
      [
        { id: 1, amount: '1.05' },
        { id: 2, amount: '-12.50' },
        { id: 3, amount: null },
      ],
    )
    assert.deepEqual(
      lines.map((l) => (l.source as { position: string }).position),
      [1, 2, 3].map((i) => makePosition(0x2000n, '1', i)),
    )
    assert.equal(lines[0]!.op, 'c')
  })

  it('waits for drain when the stream is full and resolves once the reader catches up', async () => {
    const out = new PassThrough({ highWaterMark: 64 })
    const s = new StdoutSink(AVRO, out)
    await s.open()
    let done = false
    const w = s.write(batch([ev(1), ev(2), ev(3)])).then(() => (done = true))
    let second = false
    const w2 = s.write(batch([ev(4)])).then(() => (second = true))
    for (let i = 0; i < 5; i++) await tick()
    assert.equal(done, false, 'resolved while nobody read the stream')
    assert.equal(second, false)
    let text = ''
    out.on('data', (c: Buffer) => (text += c.toString()))
    await w
    await w2
    assert.equal(text.trimEnd().split('\n').length, 4)
    await s.close()
  })

  it('a stream error rejects the write with a SinkError and later writes too', async () => {
    const broken = new Writable({
      write(_chunk, _enc, cb) {
        cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))
      },
    })
    const s = new StdoutSink(AVRO, broken)
    await s.open()
    await assert.rejects(s.write(batch([ev(1)])), (err: unknown) => {
      assert.ok(err instanceof SinkError)
      assert.equal(err.code, 'STDOUT_WRITE_FAILED')
      assert.match(err.message, /EPIPE/)
      return true
    })
    await assert.rejects(s.write(batch([ev(2)])), SinkError)
    await assert.rejects(s.write(batch([])), SinkError) // even a checkpoint-only batch
    await assert.rejects(s.close(), SinkError)
    assert.equal(broken.listenerCount('error'), 0)
  })

  it('an event that cannot be rendered rejects with an EncodeError naming its position; nothing of it is printed', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (c: Buffer) => (text += c.toString()))
    const s = new StdoutSink(AVRO, out)
    await s.open()
    const bad = {
      ...ev(2),
      after: Object.defineProperty({}, 'id', {
        enumerable: true,
        get() {
          throw new Error('row access failed')
        },
      }),
    }
    await s.write(batch([ev(1)]))
    await assert.rejects(s.write(batch([bad])), (err: unknown) => {
      assert.ok(err instanceof EncodeError)
      assert.equal(err.code, 'STDOUT_ENCODE_FAILED')
      assert.ok(err.message.includes(bad.position))
      return true
    })
    await assert.rejects(s.write(batch([ev(3)])), EncodeError)
    assert.equal(text.trimEnd().split('\n').length, 1)
  })

  it('accepts only `type: stdout` in its config', () => {
    assert.deepEqual(stdoutConfig.parse({ type: 'stdout' }), { type: 'stdout' })
    assert.equal(stdoutConfig.safeParse({ type: 'stdout', pretty: true }).success, false)
  })
})
