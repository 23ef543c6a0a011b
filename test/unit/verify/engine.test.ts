import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Row } from '../../../pipeline/event.js'
import type { ColumnSchema, TableSchema } from '../../../pipeline/schema.js'
import {
  canonicalJson,
  differingColumns,
  rowHash,
  verifyPipeline,
  type ScannedRow,
  type SinkReader,
  type SourceScanner,
  type VerifySink,
} from '../../../pipeline/verify.js'
import { keyString, toDocument, type Document } from '../../../sinks/document.js'

// The engine's logic (chunking, recheck, extras, examples) over an in-memory source and
// target. The real scanners and readers are proved against real servers in
// test/integration/verify-*.test.ts.

const col = (name: string, avro: ColumnSchema['avro']): ColumnSchema => ({
  name,
  sourceType: 'x',
  nullable: true,
  avro,
  fromText: (t) => t,
})

const table = (name: string): TableSchema => ({
  connector: 'postgresql',
  db: 'd',
  schema: 'public',
  table: name,
  version: 1,
  keyColumns: ['tenant', 'id'],
  columns: [col('tenant', 'string'), col('id', 'int'), col('note', ['null', 'string']), col('n', 'long')],
})

/** An in-memory source: rows per table, sorted by key; counts queries. */
class MemSource implements SourceScanner {
  queries = 0
  constructor(readonly data: Map<TableSchema, Row[]>) {}
  async open(): Promise<void> {}
  tables(): readonly TableSchema[] {
    return [...this.data.keys()]
  }
  private sorted(t: TableSchema): Row[] {
    return [...this.data.get(t)!].sort((a, b) =>
      a.tenant === b.tenant
        ? (a.id as number) - (b.id as number)
        : String(a.tenant) < String(b.tenant)
          ? -1
          : 1,
    )
  }
  async *scan(t: TableSchema, chunkSize: number): AsyncIterable<ScannedRow[]> {
    const rows = this.sorted(t)
    for (let i = 0; i < rows.length; i += chunkSize) {
      this.queries++
      yield rows.slice(i, i + chunkSize).map((row) => ({ cursor: [row.tenant, row.id], row }))
    }
  }
  async lookup(t: TableSchema, cursors: readonly (readonly unknown[])[]): Promise<ScannedRow[]> {
    const rows = this.data.get(t)!
    return cursors.flatMap((c) =>
      rows.filter((r) => r.tenant === c[0] && r.id === c[1]).map((row) => ({ cursor: c, row })),
    )
  }
  async close(): Promise<void> {}
}

/** An in-memory target: documents by table name and key string, stored as JSON text. */
class MemTarget implements SinkReader {
  readonly target = 'mem://target'
  fetches = 0
  onFetch: ((n: number) => void) | null = null
  constructor(
    readonly store: Map<string, Map<string, string>>,
    readonly locate: (t: TableSchema) => string = (t) => t.table,
  ) {}
  async open(): Promise<void> {}
  location(t: TableSchema): string {
    return this.locate(t)
  }
  async fetch(t: TableSchema, keys: readonly string[]): Promise<Map<string, Document>> {
    const m = this.store.get(t.table) ?? new Map<string, string>()
    const out = new Map<string, Document>()
    for (const k of keys) {
      const v = m.get(k)
      if (v !== undefined) out.set(k, JSON.parse(v) as Document)
    }
    // Called once this fetch has read: what it changes shows on the next one.
    this.fetches++
    this.onFetch?.(this.fetches)
    return out
  }
  async *keys(t: TableSchema): AsyncIterable<string[]> {
    yield [...(this.store.get(t.table) ?? new Map()).keys()]
  }
  async close(): Promise<void> {}
}

function fixture(n: number): { items: TableSchema; src: MemSource; store: Map<string, Map<string, string>> } {
  const items = table('items')
  const rows: Row[] = []
  for (let i = 1; i <= n; i++)
    rows.push({
      tenant: i % 3 === 0 ? 'a:b' : 'x',
      id: i,
      note: i % 5 ? `n${i}` : null,
      n: 10n ** 15n + BigInt(i),
    })
  const src = new MemSource(new Map([[items, rows]]))
  const docs = new Map<string, string>()
  for (const r of rows) {
    // Stored with columns in another order: verify compares canonical JSON, not text.
    const doc = toDocument(items, r)
    const reordered = Object.fromEntries(Object.entries(doc).reverse())
    docs.set(keyString(items, { tenant: r.tenant, id: r.id }), JSON.stringify(reordered))
  }
  return { items, src, store: new Map([['items', docs]]) }
}

const sinkOf = (reader: SinkReader): VerifySink[] => [
  { index: 0, type: 'mem', verifier: reader },
  { index: 1, type: 'file', verifier: { unverifiable: 'keeps events' } },
]

test('canonical JSON sorts keys at every level and the row hash ignores key order', () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } }),
    '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}',
  )
  assert.equal(rowHash({ a: 1, b: 'x' }), rowHash({ b: 'x', a: 1 }))
  assert.notEqual(rowHash({ a: 1, b: 'x' }), rowHash({ a: 1, b: 'y' }))
  assert.notEqual(rowHash({ a: 1 }), rowHash({ a: '1' }))
  assert.deepEqual(differingColumns({ a: 1, b: [1, 2], c: 3 }, { a: 1, b: [2, 1], d: 3 }), ['b', 'c', 'd'])
})

test('a target holding exactly the source rows is in sync, chunk by chunk', async () => {
  const { src, store } = fixture(2500)
  const target = new MemTarget(store)
  const r = await verifyPipeline({
    scanner: src,
    sinks: sinkOf(target),
    chunkSize: 1000,
    recheckMs: 0,
    examples: 5,
  })
  assert.equal(r.inSync, true)
  assert.equal(src.queries, 3)
  assert.equal(target.fetches, 3)
  const t = r.sinks[0]!.tables[0]!
  assert.deepEqual(
    {
      rows: t.sourceRows,
      target: t.targetKeys,
      matched: t.matched,
      rechecked: t.rechecked,
      m: t.missing,
      e: t.extra,
      d: t.differing,
    },
    { rows: 2500, target: 2500, matched: 2500, rechecked: 0, m: 0, e: 0, d: 0 },
  )
  assert.deepEqual(r.totals, { tables: 1, sourceRows: 2500, missing: 0, extra: 0, differing: 0 })
  assert.equal(r.sinks[1]!.unverifiable, 'keeps events')
  assert.deepEqual(r.sinks[1]!.tables, [])
})

test('missing, extra and differing keys are counted and named, examples capped', async () => {
  const { items, src, store } = fixture(100)
  const docs = store.get('items')!
  const key = (tenant: string, id: number): string => keyString(items, { tenant, id })
  for (const id of [1, 2, 4, 5]) docs.delete(key('x', id))
  docs.set('extra\\:one:1', '{}')
  docs.set('x:1000', '{}')
  const d7 = JSON.parse(docs.get(key('x', 7))!) as Document
  d7.note = 'changed'
  docs.set(key('x', 7), JSON.stringify(d7))
  const d9 = JSON.parse(docs.get(key('a:b', 9))!) as Document
  delete d9.n
  d9.surplus = 1
  docs.set(key('a:b', 9), JSON.stringify(d9))
  const r = await verifyPipeline({
    scanner: src,
    sinks: sinkOf(new MemTarget(store)),
    chunkSize: 7,
    recheckMs: 0,
    examples: 3,
  })
  const t = r.sinks[0]!.tables[0]!
  assert.equal(r.inSync, false)
  assert.deepEqual([t.missing, t.extra, t.differing, t.matched], [4, 2, 2, 94])
  assert.deepEqual(t.examples.missing, ['x:1', 'x:2', 'x:4'])
  assert.deepEqual(t.examples.extra, ['extra\\:one:1', 'x:1000'])
  assert.deepEqual(
    [...t.examples.differing].sort((a, b) => (a.key < b.key ? -1 : 1)),
    [
      { key: 'a\\:b:9', columns: ['n', 'surplus'] },
      { key: 'x:7', columns: ['note'] },
    ],
  )
  assert.deepEqual(r.totals, { tables: 1, sourceRows: 100, missing: 4, extra: 2, differing: 2 })
})

test('suspects are read again after the delay: a key fixed meanwhile is not reported', async () => {
  const { items, src, store } = fixture(50)
  const docs = store.get('items')!
  const k3 = keyString(items, { tenant: 'a:b', id: 3 })
  const k4 = keyString(items, { tenant: 'x', id: 4 })
  const good3 = docs.get(k3)!
  docs.set(k3, '{"stale":true}')
  docs.delete(k4)
  const target = new MemTarget(store)
  const fetchedAt: number[] = []
  target.onFetch = (n) => {
    fetchedAt.push(Date.now())
    // After the scan's fetch, "the pipeline" repairs k3 and the source drops row 4 (deleted).
    if (n === 1) {
      docs.set(k3, good3)
      const rows = src.data.get(items)!
      rows.splice(
        rows.findIndex((r) => r.id === 4),
        1,
      )
    }
  }
  const started = Date.now()
  const r = await verifyPipeline({
    scanner: src,
    sinks: sinkOf(target),
    chunkSize: 100,
    recheckMs: 300,
    examples: 5,
  })
  const t = r.sinks[0]!.tables[0]!
  assert.equal(r.inSync, true, JSON.stringify(t))
  // 48 on the first pass, k3 on the recheck; row 4 is gone from both.
  assert.equal(t.matched, 49)
  assert.equal(t.rechecked, 2)
  assert.equal(target.fetches, 2)
  assert.ok(fetchedAt[1]! - started >= 290, `recheck waited ${fetchedAt[1]! - started} ms`)
})

test('a source row deleted while the target keeps it is extra; an extra key gone before the recheck is not', async () => {
  const { items, src, store } = fixture(20)
  const docs = store.get('items')!
  docs.set('ghost:1', '{}')
  const k5 = keyString(items, { tenant: 'x', id: 5 })
  docs.set(k5, '{"stale":true}')
  const target = new MemTarget(store)
  target.onFetch = (n) => {
    if (n === 1) {
      const rows = src.data.get(items)!
      rows.splice(
        rows.findIndex((r) => r.id === 5),
        1,
      )
      docs.delete('ghost:1')
    }
  }
  const r = await verifyPipeline({
    scanner: src,
    sinks: sinkOf(target),
    chunkSize: 100,
    recheckMs: 10,
    examples: 5,
  })
  const t = r.sinks[0]!.tables[0]!
  assert.deepEqual([t.missing, t.extra, t.differing], [0, 1, 0])
  assert.deepEqual(t.examples.extra, [k5])
})

test('tables sharing a target location are compared but their extras are not claimed', async () => {
  const a = table('a')
  const b = table('b')
  const src = new MemSource(
    new Map([
      [a, [{ tenant: 'x', id: 1, note: null, n: 1 }]],
      [b, [{ tenant: 'x', id: 2, note: null, n: 2 }]],
    ]),
  )
  const store = new Map([
    [
      'a',
      new Map([
        ['x:1', JSON.stringify(toDocument(a, { tenant: 'x', id: 1, note: null, n: 1 }))],
        ['x:2', '{}'],
      ]),
    ],
    ['b', new Map([['x:2', JSON.stringify(toDocument(b, { tenant: 'x', id: 2, note: null, n: 2 }))]])],
  ])
  const r = await verifyPipeline({
    scanner: src,
    sinks: sinkOf(new MemTarget(store, () => 'shared')),
    chunkSize: 10,
    recheckMs: 0,
    examples: 5,
  })
  assert.equal(r.inSync, true)
  assert.deepEqual(
    r.sinks[0]!.tables.map((t) => [t.table, t.location, t.targetKeys, t.matched]),
    [
      ['public.a', 'shared', null, 1],
      ['public.b', 'shared', null, 1],
    ],
  )
})
