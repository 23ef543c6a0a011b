import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { open as openFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, describe, it } from 'node:test'
import avro from 'avsc'
import pino from 'pino'
import { codecFor } from '../../../../avro/codec.js'
import { makePosition } from '../../../../connectors/postgres/position.js'
import { postgresSource } from '../../../../connectors/postgres/source-info.js'
import { PreconditionError, SinkError } from '../../../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent, Row } from '../../../../pipeline/event.js'
import type { AvroSchema, TableSchema } from '../../../../pipeline/schema.js'
import type { AvroOptions } from '../../../../pipeline/source.js'
import { fileConfig } from '../../../../sinks/file/config.js'
import {
  FileSink,
  nodeFileSystem,
  type FileHandleLike,
  type FileSystem,
} from '../../../../sinks/file/sink.js'

const AVRO: AvroOptions = { types: 'debezium', prefix: 'shop', unsupported: 'fail' }
const log = pino({ level: 'silent' })

const roots: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-file-sink-'))
  roots.push(d)
  return d
}
after(() => {
  for (const d of roots) rmSync(d, { recursive: true, force: true })
})

// ---- fixtures: tables and events built by hand ----

const DECIMAL_10_2: AvroSchema = {
  type: 'bytes',
  'connect.version': 1,
  'connect.parameters': { scale: '2', 'connect.decimal.precision': '10' },
  'connect.name': 'org.apache.kafka.connect.data.Decimal',
}

/** Big-endian two's complement of a small integer (the Connect Decimal byte form). */
function unscaled(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

function table(name: string, version = 1, extraColumn = false): TableSchema {
  const columns: TableSchema['columns'][number][] = [
    { name: 'id', sourceType: 'int4', nullable: false, avro: 'int', fromText: Number },
    { name: 'name', sourceType: 'text', nullable: true, avro: 'string', fromText: String },
    { name: 'amount', sourceType: 'numeric(10,2)', nullable: true, avro: DECIMAL_10_2, fromText: String },
  ]
  if (extraColumn)
    columns.push({ name: 'flag', sourceType: 'bool', nullable: true, avro: 'boolean', fromText: Boolean })
  return {
    connector: 'postgresql',
    db: 'shop',
    schema: 'public',
    table: name,
    columns,
    keyColumns: ['id'],
    version,
  }
}

let seq = 0
/** Events get increasing positions across the whole test file. */
function ev(t: TableSchema, id: number, op: ChangeEvent['op'] = 'c', extra: Row = {}): ChangeEvent {
  const index = ++seq
  const position = makePosition(0x1000n, '1', index)
  const row: Row = {
    id,
    name: id % 3 === 0 ? null : `row ${id}`,
    amount: unscaled(id * 100 - 1250),
    ...extra,
  }
  return {
    op,
    table: t,
    key: { id },
    before: op === 'u' || op === 'd' ? { ...row, name: 'old' } : null,
    after: op === 'd' ? null : row,
    position,
    source: postgresSource(
      'shop',
      'shop',
      'public',
      t.table,
      1763712000000 + index,
      'false',
      771,
      4096 + index,
      position,
    ),
    transaction: op === 'r' ? null : { id: `771:${index}`, total_order: 1, data_collection_order: 1 },
    ts_ms: 1763712000500 + index,
  }
}

function batch(events: ChangeEvent[]): ChangeBatch {
  return {
    events,
    checkpoint: events.at(-1)?.position ?? makePosition(0x1000n, '1', ++seq),
    bytes: 100 * events.length,
  }
}

function sink(
  path: string,
  over: Record<string, unknown> = {},
  fs?: FileSystem,
  now?: () => number,
): FileSink {
  return new FileSink(fileConfig.parse({ type: 'file', path, ...over }), AVRO, log, { fs, now })
}

// ---- reading back ----

/** Avro records as plain objects (avsc decodes records into class instances). */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v
  if (Array.isArray(v)) return v.map(plain)
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
}

interface Decoded {
  records: Record<string, unknown>[]
  codec: string
  schema: Record<string, unknown>
}

/** Collects what an avsc container decoder emits. */
function collect(decoder: NodeJS.ReadableStream): Promise<Decoded> {
  return new Promise((resolve, reject) => {
    const records: Record<string, unknown>[] = []
    let codec = ''
    let schema: Record<string, unknown> = {}
    decoder
      .on('metadata', (_t: unknown, c: string, header: { meta: Record<string, Buffer> }) => {
        codec = c
        schema = JSON.parse(header.meta['avro.schema']!.toString()) as Record<string, unknown>
      })
      .on('data', (r: unknown) => records.push(plain(r) as Record<string, unknown>))
      .on('error', reject)
      .on('end', () => resolve({ records, codec, schema }))
  })
}

/** Decodes a file with avsc's createFileDecoder. */
function decodeFile(path: string): Promise<Decoded> {
  return collect(avro.createFileDecoder(path))
}

/** Decodes an OCF held in memory (a prefix of a file). */
function decodeBuffer(buf: Buffer): Promise<Decoded> {
  return collect(Readable.from([buf]).pipe(new avro.streams.BlockDecoder()))
}

/** What a decoded record of `e` must equal. */
function expected(e: ChangeEvent): unknown {
  // File records are the Envelope plus the event key (see TableCodec.keyedSchema).
  return plain({ ...codecFor(e.table, AVRO).envelope(e), key: e.key })
}

function files(dir: string): string[] {
  return readdirSync(dir).sort()
}

// ---- a file system wrapper that counts and can slow down fsyncs ----

interface Counting {
  fs: FileSystem
  /** fsyncs of data files and of directories. */
  fileSyncs: number
  dirSyncs: number
  /** Per data file: its length at the end of the last completed fsync. */
  synced: Map<string, number>
  closed: string[]
}

function counting(syncDelayMs = 0, base: FileSystem = nodeFileSystem): Counting {
  const c: Counting = { fs: base, fileSyncs: 0, dirSyncs: 0, synced: new Map(), closed: [] }
  c.fs = {
    mkdir: (p) => base.mkdir(p),
    readdir: (p) => base.readdir(p),
    async open(path, flags) {
      const h = await base.open(path, flags)
      const wrapped: FileHandleLike = {
        write: (buf, off, len, pos) => h.write(buf, off, len, pos),
        async sync() {
          if (flags === 'r') c.dirSyncs++
          else c.fileSyncs++
          const len = flags === 'r' ? 0 : statSync(path).size
          if (syncDelayMs > 0) await new Promise((r) => setTimeout(r, syncDelayMs))
          await h.sync()
          if (flags !== 'r') c.synced.set(path, len)
        },
        async close() {
          if (flags !== 'r') c.closed.push(path)
          await h.close()
        },
      }
      return wrapped
    },
  }
  return c
}

describe('file sink, avro', () => {
  it('writes OCF files that avsc createFileDecoder reads back as the events, in position order', async () => {
    const root = tempDir()
    const s = sink(root)
    await s.open()
    const t = table('orders')
    const events = [ev(t, 1), ev(t, 2, 'u'), ev(t, 3, 'r'), ev(t, 4, 'd'), ev(t, 5)]
    await s.write(batch(events.slice(0, 2)))
    await s.write(batch(events.slice(2)))
    await s.close()

    assert.deepEqual(files(root), ['public.orders'])
    assert.deepEqual(files(join(root, 'public.orders')), ['000001.avro'])
    const out = await decodeFile(join(root, 'public.orders', '000001.avro'))
    assert.equal(out.codec, 'null')
    assert.deepEqual(out.records, events.map(expected))
    for (const r of out.records) {
      assert.deepEqual(Object.keys(r).sort(), [
        'after',
        'before',
        'key',
        'op',
        'source',
        'transaction',
        'ts_ms',
      ])
    }
    const positions = out.records.map((r) => (r.source as { position: string }).position)
    assert.deepEqual(positions, [...positions].sort())
    assert.deepEqual(
      positions,
      events.map((e) => e.position),
    )
    // Our own schema JSON: the Kafka Connect attributes survive in the header.
    assert.deepEqual(out.schema, JSON.parse(JSON.stringify(codecFor(t, AVRO).keyedSchema)))
    assert.match(JSON.stringify(out.schema), /org\.apache\.kafka\.connect\.data\.Decimal/)
  })

  it('writes deflate blocks that decode to the same records', async () => {
    const root = tempDir()
    const s = sink(root, { codec: 'deflate' })
    await s.open()
    const t = table('orders')
    const events = Array.from({ length: 300 }, (_, i) => ev(t, i))
    await s.write(batch(events))
    await s.close()
    const out = await decodeFile(join(root, 'public.orders', '000001.avro'))
    assert.equal(out.codec, 'deflate')
    assert.deepEqual(out.records, events.map(expected))
  })

  it('keeps one series of files per table, each in its own order', async () => {
    const root = tempDir()
    const s = sink(root)
    await s.open()
    const a = table('a')
    const b = table('b')
    const events = [ev(a, 1), ev(b, 1), ev(a, 2), ev(b, 2), ev(b, 3)]
    await s.write(batch(events))
    await s.close()
    assert.deepEqual(files(root), ['public.a', 'public.b'])
    const ra = await decodeFile(join(root, 'public.a', '000001.avro'))
    const rb = await decodeFile(join(root, 'public.b', '000001.avro'))
    assert.deepEqual(
      ra.records,
      [events[0], events[2]].map((e) => expected(e!)),
    )
    assert.deepEqual(
      rb.records,
      [events[1], events[3], events[4]].map((e) => expected(e!)),
    )
  })

  it('escapes table names that are not safe as directory names', async () => {
    const root = tempDir()
    const s = sink(root)
    await s.open()
    await s.write(batch([ev(table('../x/y'), 1)]))
    await s.close()
    assert.deepEqual(files(root), ['public.%2E.%2Fx%2Fy'])
  })

  it('starts a new file when the table schema changes, not for an equal rebuilt schema', async () => {
    const root = tempDir()
    const s = sink(root)
    await s.open()
    const v1 = table('orders', 1)
    const v1again = table('orders', 1) // new object, same version and schema: same file
    const v2 = table('orders', 2, true)
    const e1 = [ev(v1, 1), ev(v1again, 2)]
    const e2 = [ev(v2, 3, 'c', { flag: true }), ev(v2, 4, 'c', { flag: null })]
    await s.write(batch(e1))
    await s.write(batch(e2))
    const v3 = table('orders', 3, true) // higher version, same shape: still a new file
    const e3 = [ev(v3, 5, 'c', { flag: false })]
    await s.write(batch(e3))
    await s.close()
    const dir = join(root, 'public.orders')
    assert.deepEqual(files(dir), ['000001.avro', '000002.avro', '000003.avro'])
    const f1 = await decodeFile(join(dir, '000001.avro'))
    const f2 = await decodeFile(join(dir, '000002.avro'))
    const f3 = await decodeFile(join(dir, '000003.avro'))
    assert.deepEqual(f1.records, e1.map(expected))
    assert.deepEqual(f2.records, e2.map(expected))
    assert.deepEqual(f3.records, e3.map(expected))
    assert.equal((f2.records[0]!.after as Row).flag, true)
    assert.ok(!JSON.stringify(f1.schema).includes('"flag"'))
    assert.ok(JSON.stringify(f2.schema).includes('"flag"'))
  })

  it('rotates by size after the block that crosses rotate_bytes', async () => {
    const root = tempDir()
    const limit = 2000
    const s = sink(root, { rotate_bytes: limit })
    await s.open()
    const t = table('orders')
    const events: ChangeEvent[] = []
    for (let i = 0; i < 40; i++) {
      const b = [ev(t, i), ev(t, i + 1000)]
      events.push(...b)
      await s.write(batch(b)) // one block per commit
    }
    await s.close()
    const dir = join(root, 'public.orders')
    const names = files(dir)
    assert.ok(names.length >= 3, `expected several files, got ${names.join(', ')}`)
    const all: Record<string, unknown>[] = []
    for (const [i, n] of names.entries()) {
      const size = statSync(join(dir, n)).size
      const { records } = await decodeFile(join(dir, n))
      if (i < names.length - 1) {
        assert.ok(size >= limit, `${n} is ${size} bytes, below the limit`)
        // Only the last block crossed: the file minus one block (2 records here) was below it.
        assert.ok(size < limit + 2 * 700, `${n} is ${size} bytes, more than one block past the limit`)
      }
      all.push(...records)
    }
    assert.deepEqual(all, events.map(expected))
  })

  it('rotates by time, also while idle', async () => {
    const root = tempDir()
    let now = 0
    const c = counting()
    const s = sink(root, { rotate_interval_ms: 1000 }, c.fs, () => now)
    await s.open()
    const t = table('orders')
    const e1 = ev(t, 1)
    const e2 = ev(t, 2)
    await s.write(batch([e1]))
    now = 500
    await s.write(batch([e2]))
    now = 1000
    const e3 = ev(t, 3)
    await s.write(batch([e3])) // the first file is due: e3 starts the second
    const dir = join(root, 'public.orders')
    assert.deepEqual(files(dir), ['000001.avro', '000002.avro'])
    assert.deepEqual((await decodeFile(join(dir, '000001.avro'))).records, [e1, e2].map(expected))
    await s.close()
    assert.deepEqual((await decodeFile(join(dir, '000002.avro'))).records, [expected(e3)])

    // Idle: the timer closes a due file without any further write.
    const root2 = tempDir()
    const c2 = counting()
    const s2 = sink(root2, { rotate_interval_ms: 30 }, c2.fs)
    await s2.open()
    await s2.write(batch([ev(t, 4)]))
    assert.deepEqual(c2.closed, [])
    for (let waited = 0; c2.closed.length === 0 && waited < 2000; waited += 10) {
      await new Promise((r) => setTimeout(r, 10))
    }
    assert.deepEqual(c2.closed, [join(root2, 'public.orders', '000001.avro')])
    await s2.close()
  })

  it('continues numbering after existing files on restart and never appends to them', async () => {
    const root = tempDir()
    const t = table('orders')
    const first = [ev(t, 1), ev(t, 2)]
    const s1 = sink(root)
    await s1.open()
    await s1.write(batch(first))
    await s1.close()
    const dir = join(root, 'public.orders')
    const before1 = readFileSync(join(dir, '000001.avro'))
    // A crashed run left a torn file behind.
    writeFileSync(join(dir, '000002.avro'), Buffer.from('Obj\x01 torn'))
    writeFileSync(join(dir, 'notes.txt'), 'not a data file')

    const s2 = sink(root)
    await s2.open()
    const second = [ev(t, 3)]
    await s2.write(batch(second))
    await s2.close()
    assert.deepEqual(files(dir), ['000001.avro', '000002.avro', '000003.avro', 'notes.txt'])
    assert.deepEqual(readFileSync(join(dir, '000001.avro')), before1)
    assert.equal(readFileSync(join(dir, '000002.avro'), 'latin1'), 'Obj\x01 torn')
    assert.deepEqual((await decodeFile(join(dir, '000003.avro'))).records, second.map(expected))
  })

  it('resolves zero-event batches in call order with the others', async () => {
    const root = tempDir()
    const c = counting(5)
    const s = sink(root, {}, c.fs)
    await s.open()
    const t = table('orders')
    const order: number[] = []
    const writes = [batch([]), batch([ev(t, 1)]), batch([]), batch([]), batch([ev(t, 2)]), batch([])].map(
      (b, i) => s.write(b).then(() => order.push(i)),
    )
    await Promise.all(writes)
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5])
    // Checkpoint-only batches alone need no fsync.
    const syncs = c.fileSyncs
    await s.write(batch([]))
    await s.flush()
    assert.equal(c.fileSyncs, syncs)
    await s.close()
  })

  it('group commit: batches arriving during an fsync share the next one, and each resolves only once durable', async () => {
    const root = tempDir()
    const c = counting(20) // an fsync takes 20 ms
    const s = sink(root, {}, c.fs)
    await s.open()
    const t = table('orders')
    const n = 60
    const events: ChangeEvent[] = []
    const resolved: { i: number; durable: number }[] = []
    const path = join(root, 'public.orders', '000001.avro')
    const writes: Promise<void>[] = []
    for (let i = 0; i < n; i++) {
      const e = ev(t, i)
      events.push(e)
      writes.push(s.write(batch([e])).then(() => void resolved.push({ i, durable: c.synced.get(path) ?? 0 })))
      await new Promise((r) => setTimeout(r, 1)) // a batch every ~1 ms, faster than fsync
    }
    await Promise.all(writes)
    await s.close()
    assert.deepEqual(
      resolved.map((r) => r.i),
      events.map((_, i) => i),
    )
    assert.ok(c.fileSyncs < n / 3, `${c.fileSyncs} fsyncs for ${n} batches`)
    assert.ok(c.fileSyncs >= 2, `${c.fileSyncs} fsyncs: the batches did not spread over several commits`)
    // When batch i resolved, the fsynced prefix of the file already held events 0..i.
    const file = readFileSync(path)
    for (const r of resolved) {
      const { records } = await decodeBuffer(file.subarray(0, r.durable))
      assert.ok(records.length >= r.i + 1, `batch ${r.i} resolved with only ${records.length} events durable`)
      assert.deepEqual(records[r.i], expected(events[r.i]!))
    }
  })

  it('fsyncs a rotated file and its directory', async () => {
    const root = tempDir()
    const c = counting()
    const s = sink(root, { rotate_bytes: 1 }, c.fs)
    await s.open()
    const t = table('orders')
    await s.write(batch([ev(t, 1)]))
    const dir = join(root, 'public.orders')
    assert.deepEqual(c.closed, [join(dir, '000001.avro')]) // rotated right after its first block
    assert.ok(c.fileSyncs >= 1)
    assert.ok(c.dirSyncs >= 1)
    await s.close()
  })
})

describe('file sink, jsonl', () => {
  it('writes one JSON object per line with decimals as strings', async () => {
    const root = tempDir()
    const s = sink(root, { format: 'jsonl' })
    await s.open()
    const t = table('orders')
    const events = [ev(t, 1), ev(t, 3, 'u'), ev(t, 4, 'd')]
    await s.write(batch(events))
    await s.close()
    const dir = join(root, 'public.orders')
    assert.deepEqual(files(dir), ['000001.jsonl'])
    const text = readFileSync(join(dir, '000001.jsonl'), 'utf8')
    assert.ok(text.endsWith('\n'))
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.equal(lines.length, 3)
    assert.deepEqual(lines[0]!.after, { id: 1, name: 'row 1', amount: '-11.50' })
    assert.deepEqual(lines[1]!.after, { id: 3, name: null, amount: '-9.50' })
    assert.deepEqual(lines[1]!.before, { id: 3, name: 'old', amount: '-9.50' })
    assert.equal(lines[2]!.after, null)
    assert.deepEqual(
      lines.map((l) => l.op),
      ['c', 'u', 'd'],
    )
    assert.deepEqual(
      lines.map((l) => (l.source as { position: string }).position),
      events.map((e) => e.position),
    )
  })

  it('rejects codec deflate with format jsonl in the config', () => {
    const r = fileConfig.safeParse({ type: 'file', path: '/tmp/x', format: 'jsonl', codec: 'deflate' })
    assert.equal(r.success, false)
    assert.deepEqual(r.error?.issues[0]?.path, ['codec'])
  })
})

describe('file sink failures', () => {
  it('open() fails with a PreconditionError when the path is under a regular file', async () => {
    const root = tempDir()
    writeFileSync(join(root, 'plain'), 'x')
    const s = sink(join(root, 'plain', 'out'))
    await assert.rejects(s.open(), (err: unknown) => {
      assert.ok(err instanceof PreconditionError)
      assert.equal(err.code, 'FILE_PATH_UNUSABLE')
      assert.match(err.message, /ENOTDIR/)
      return true
    })
  })

  it('a write error rejects every pending write with a SinkError naming the file, and later writes too', async () => {
    const root = tempDir()
    const s = sink(root)
    await s.open()
    writeFileSync(join(root, 'public.orders'), 'a regular file where the series directory goes')
    const t = table('orders')
    const pending = [s.write(batch([ev(t, 1)])), s.write(batch([ev(t, 2)])), s.write(batch([]))]
    const results = await Promise.allSettled(pending)
    for (const r of results) {
      assert.equal(r.status, 'rejected')
      const err = (r as PromiseRejectedResult).reason as SinkError
      assert.ok(err instanceof SinkError)
      assert.equal(err.code, 'FILE_WRITE_FAILED')
      assert.ok(err.message.includes(join(root, 'public.orders')), err.message)
      assert.match(err.message, /EEXIST|ENOTDIR/)
    }
    await assert.rejects(s.write(batch([ev(t, 3)])), (err: unknown) => {
      assert.ok(err instanceof SinkError)
      assert.equal(err.code, 'FILE_SINK_FAILED')
      return true
    })
    await assert.rejects(s.flush(), SinkError)
    await s.close() // releases what it holds without throwing the reported error again
  })

  it('a full device (ENOSPC) rejects the write with a retriable SinkError and stops the sink', async () => {
    const root = tempDir()
    // Data files are created for real, but every byte goes to /dev/full.
    const full: FileSystem = {
      ...nodeFileSystem,
      async open(path, flags) {
        if (flags === 'r') return nodeFileSystem.open(path, flags)
        await (await openFile(path, 'wx')).close()
        return openFile('/dev/full', 'w')
      },
    }
    const s = sink(root, {}, full)
    await s.open()
    const t = table('orders')
    const first = s.write(batch([ev(t, 1)]))
    const second = s.write(batch([ev(t, 2)]))
    await assert.rejects(first, (err: unknown) => {
      assert.ok(err instanceof SinkError)
      assert.equal(err.code, 'FILE_WRITE_FAILED')
      assert.equal(err.retriable, true)
      assert.match(err.message, /ENOSPC/)
      assert.ok(err.message.includes(join(root, 'public.orders', '000001.avro')), err.message)
      return true
    })
    await assert.rejects(second, SinkError)
    await assert.rejects(s.write(batch([ev(t, 3)])), SinkError)
    await s.close()
  })

  it('an event that cannot be encoded fails with an EncodeError naming the table and position', async () => {
    const root = tempDir()
    const s = sink(root)
    await s.open()
    const t = table('orders')
    const bad = ev(t, 1, 'c', { id: 'not an int' })
    await assert.rejects(s.write(batch([bad])), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'FILE_ENCODE_FAILED')
      assert.ok((err as Error).message.includes(bad.position))
      assert.ok((err as Error).message.includes('public.orders'))
      return true
    })
    await assert.rejects(s.write(batch([ev(t, 2)])), SinkError)
    await s.close()
  })

  it('close() flushes and closes every file; later writes reject', async () => {
    const root = tempDir()
    const c = counting()
    const s = sink(root, {}, c.fs)
    await s.open()
    const t = table('orders')
    const u = table('users')
    const w = s.write(batch([ev(t, 1), ev(u, 1)]))
    await s.close()
    await w
    assert.deepEqual(c.closed.sort(), [
      join(root, 'public.orders', '000001.avro'),
      join(root, 'public.users', '000001.avro'),
    ])
    await assert.rejects(
      s.write(batch([ev(t, 2)])),
      (err: unknown) => (err as SinkError).code === 'FILE_SINK_CLOSED',
    )
  })
})
