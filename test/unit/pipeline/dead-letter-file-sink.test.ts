import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import avro from 'avsc'
import pino from 'pino'
import { compileReaderSchema } from '../../../avro/codec.js'
import { makePosition } from '../../../connectors/postgres/position.js'
import { postgresSource } from '../../../connectors/postgres/source-info.js'
import { RejectPolicy, type DeadLetterRecord } from '../../../pipeline/dead-letter.js'
import type { ChangeEvent } from '../../../pipeline/event.js'
import type { TableSchema } from '../../../pipeline/schema.js'
import type { AvroOptions } from '../../../pipeline/source.js'
import { fileConfig } from '../../../sinks/file/config.js'
import { createFileSink } from '../../../sinks/file/sink.js'

// The file sink hands an event it cannot encode to SinkContext.reject (the pipeline's on_error).

const AVRO: AvroOptions = { types: 'debezium', prefix: 'shop', unsupported: 'fail' }
const log = pino({ level: 'silent' })
const dir = mkdtempSync(join(tmpdir(), 'sluice-dlq-file-sink-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const table: TableSchema = {
  connector: 'postgresql',
  db: 'shop',
  schema: 'public',
  table: 'items',
  columns: [
    { name: 'id', sourceType: 'int4', nullable: false, avro: 'int', fromText: Number },
    { name: 'name', sourceType: 'text', nullable: true, avro: 'string', fromText: String },
  ],
  keyColumns: ['id'],
  version: 1,
}

function ev(i: number, id: unknown): ChangeEvent {
  const position = makePosition(0x2000n, '1', i)
  return {
    op: 'c',
    table,
    key: { id },
    before: null,
    after: { id, name: `row ${i}` },
    position,
    source: postgresSource('shop', 'shop', 'public', 'items', 1763712000000, 'false', 7, 4096, position),
    transaction: { id: `7:${i}`, total_order: i, data_collection_order: i },
    ts_ms: 1763712000500,
  }
}

const batch = (events: ChangeEvent[]) => ({ events, checkpoint: events.at(-1)!.position, bytes: 100 })

/** The records of the (single) table's OCF files, decoded with avsc. */
async function records(root: string): Promise<Record<string, unknown>[]> {
  const d = join(root, readdirSync(root)[0]!)
  const out: Record<string, unknown>[] = []
  for (const f of readdirSync(d).sort()) {
    await new Promise<void>((resolve, reject) =>
      avro
        .createFileDecoder(join(d, f), { parseHook: (schema: unknown) => compileReaderSchema(schema) })
        .on('data', (r: Record<string, unknown>) => out.push(r))
        .on('end', () => resolve())
        .on('error', reject),
    )
  }
  return out
}

describe('file sink with the pipeline on_error', () => {
  it('dead_letter: the unencodable event is dead-lettered before the write resolves; the others are written', async () => {
    const root = join(dir, 'out-dl')
    const dlPath = join(dir, 'dl.jsonl')
    const policy = new RejectPolicy({
      pipeline: 'shop',
      onError: 'dead_letter',
      deadLetter: { type: 'file', path: dlPath },
      log,
    })
    await policy.open()
    const s = createFileSink(fileConfig.parse({ type: 'file', path: root, format: 'avro' }), {
      pipeline: 'shop',
      log,
      avro: AVRO,
      reject: (e, err) => policy.rejectEvent(e, err, 'sinks[0].file'),
    })
    await s.open()
    // An int column holding a string: the Avro encoder refuses it.
    await s.write(batch([ev(1, 1), ev(2, 'two'), ev(3, 3)]))
    const dl = readFileSync(dlPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as DeadLetterRecord)
    assert.equal(dl.length, 1)
    assert.equal(dl[0]!.origin, 'sinks[0].file')
    assert.equal(dl[0]!.error.code, 'FILE_ENCODE_FAILED')
    assert.equal(dl[0]!.position, makePosition(0x2000n, '1', 2))
    assert.deepEqual(dl[0]!.after, { id: 'two', name: 'row 2' })
    await s.close()
    await policy.close()
    const written = await records(root)
    assert.deepEqual(
      written.map((r) => (r.after as { id: number }).id),
      [1, 3],
    )
  })

  it('halt: the write fails with FILE_ENCODE_FAILED and the sink stays failed', async () => {
    const root = join(dir, 'out-halt')
    const policy = new RejectPolicy({ pipeline: 'shop', onError: 'halt', log })
    const s = createFileSink(fileConfig.parse({ type: 'file', path: root, format: 'avro' }), {
      pipeline: 'shop',
      log,
      avro: AVRO,
      reject: (e, err) => policy.rejectEvent(e, err, 'sinks[0].file'),
    })
    await s.open()
    await assert.rejects(
      s.write(batch([ev(4, 4), ev(5, 'five')])),
      (e: { code?: string; message?: string }) =>
        e.code === 'FILE_ENCODE_FAILED' &&
        (e.message ?? '').includes(`position ${makePosition(0x2000n, '1', 5)}`),
    )
    await assert.rejects(s.write(batch([ev(6, 6)])))
    await s.close()
  })
})
