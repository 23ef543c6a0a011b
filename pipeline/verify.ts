import { createHash } from 'node:crypto'
import { keyString, toDocument, type Document } from '../sinks/document.js'
import type { Row } from './event.js'
import type { TableSchema } from './schema.js'

/**
 * `sluice verify`: compares each captured source table with what a sink keeps of it (a
 * cache, a search index), key by key, without locking the source.
 *
 * For every table and every verifiable sink:
 * 1. the sink lists every key it holds for the table (when the table has a target of its
 *    own, see SinkReader.location);
 * 2. the source is scanned in primary-key order, `chunkSize` rows per query; each chunk's
 *    documents are fetched from the sink by key and compared by a hash of their canonical
 *    JSON (keys sorted); every source key is struck off the sink's list;
 * 3. keys that are missing or differ are suspects: once `recheckMs` has passed since they
 *    were found, the source row and the sink document are read again and compared again, so
 *    a row that changed while verify ran (and that the pipeline has since delivered) is not
 *    reported. Keys left on the sink's list (extra) are rechecked in the sink only: still
 *    there after the delay means extra.
 *
 * Limits: a row still changing, or a pipeline lagging by more than `recheckMs`, can still
 * show as drift; the sink's key list is held in memory (one string per key).
 */

/** A row as the scanner read it: the source's own key values (the cursor) and the event row. */
export interface ScannedRow {
  /** The key columns' values as the source renders them; opaque to the engine, handed back to lookup(). */
  readonly cursor: readonly unknown[]
  /** The row exactly as a change event's `after` holds it (ColumnSchema.fromText of the source's text). */
  readonly row: Row
}

/**
 * Reads a pipeline's source tables for verification (connectors/<type>/scan.ts). Never locks
 * a table: each chunk is one plain statement (its own READ COMMITTED / REPEATABLE READ
 * snapshot), paging by key (`WHERE (key) > (last) ORDER BY key LIMIT n`).
 */
export interface SourceScanner {
  /** Connects and resolves the configured tables; throws PreconditionError naming the fix. Called once, first. */
  open(): Promise<void>
  /** The captured tables with the schemas events use, in configuration order. Only after open(). */
  tables(): readonly TableSchema[]
  /** The table's rows in key order, `chunkSize` per chunk, each chunk from one query. */
  scan(table: TableSchema, chunkSize: number): AsyncIterable<ScannedRow[]>
  /** Re-reads the rows with these cursors (from scan()); rows that no longer exist are absent. */
  lookup(table: TableSchema, cursors: readonly (readonly unknown[])[]): Promise<ScannedRow[]>
  /** Releases connections. Called once, also after a failure. */
  close(): Promise<void>
}

/**
 * Reads what a sink stored (sinks/<type>/verify.ts). Documents are returned as the
 * sink's rendering of toDocument() (sinks/document.ts), parsed from their stored JSON.
 */
export interface SinkReader {
  /** The target as printed in reports, e.g. `redis://cache:6379/0`; never holds a password. */
  readonly target: string
  /** Connects; throws PreconditionError naming the fix. Called once, first. */
  open(): Promise<void>
  /**
   * Where the table's documents live (an index name, a key pattern). Tables sharing a
   * location cannot be told apart by key, so extra keys are not reported for them.
   */
  location(table: TableSchema): string
  /** The stored documents of these keys (keyString()); keys the target lacks are absent from the map. */
  fetch(table: TableSchema, keys: readonly string[]): Promise<Map<string, Document>>
  /** Every key (keyString()) the target holds for the table, in chunks, in any order. */
  keys(table: TableSchema): AsyncIterable<string[]>
  /**
   * The document the sink stores for `doc` (toDocument of the source row), when the sink
   * transforms it (a Redis hash keeps strings); the identity when absent.
   */
  expected?(table: TableSchema, doc: Document): Document
  /** Releases connections. Called once, also after a failure. */
  close(): Promise<void>
}

/** What a sink registry entry answers when asked for a verifier. */
export type Verifier = SinkReader | { readonly unverifiable: string }

/** A sink of the pipeline, as the verify command hands it to the engine. */
export interface VerifySink {
  /** Position in the pipeline's `sinks:` list (0-based). */
  readonly index: number
  readonly type: string
  readonly verifier: Verifier
}

/** Engine options. */
export interface VerifyOptions {
  readonly scanner: SourceScanner
  readonly sinks: readonly VerifySink[]
  /** Rows per source query and keys per sink fetch. */
  readonly chunkSize: number
  /** Delay before suspects are read again (ms). */
  readonly recheckMs: number
  /** Example keys kept per kind and table. */
  readonly examples: number
  /** Called after each chunk (progress). */
  readonly onChunk?: (table: string, rows: number) => void
  /** Called when suspects wait for their recheck: the table, how many keys, the wait (ms). */
  readonly onRecheck?: (table: string, keys: number, waitMs: number) => void
  readonly signal?: AbortSignal
}

/** A key whose document differs: the key and the columns that differ (names only, never values). */
export interface DifferingKey {
  readonly key: string
  readonly columns: readonly string[]
}

/** The comparison of one table with one sink. */
export interface TableReport {
  /** `schema.table`. */
  readonly table: string
  /** Where the sink keeps it (SinkReader.location). */
  readonly location: string
  /** Rows read from the source. */
  sourceRows: number
  /** Keys the target held when listed; null when extras cannot be told (shared location). */
  targetKeys: number | null
  /** Rows found equal in both. */
  matched: number
  /** Keys read again after the delay (suspects of the first pass), whatever the outcome. */
  rechecked: number
  missing: number
  extra: number
  differing: number
  readonly examples: { missing: string[]; extra: string[]; differing: DifferingKey[] }
}

/** The result for one sink of the pipeline. */
export interface SinkReport {
  readonly index: number
  readonly type: string
  /** The target (no secrets), or null when the sink is not verifiable. */
  readonly target: string | null
  /** Why the sink is not verifiable (null when it is). */
  readonly unverifiable: string | null
  readonly tables: TableReport[]
}

/** The whole verification. */
export interface VerifyReport {
  readonly sinks: SinkReport[]
  /** Tables and source rows compared (once), and drift summed over verified sinks and tables. */
  readonly totals: { tables: number; sourceRows: number; missing: number; extra: number; differing: number }
  /** True when no verified sink has any missing, extra or differing key. */
  readonly inSync: boolean
  readonly durationMs: number
}

/**
 * Canonical JSON of a JSON value: object keys sorted at every level, no whitespace. Two
 * documents are equal exactly when their canonical JSON is.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k])
    return out
  }
  return v
}

/** The row hash compared by verify: SHA-256 (base64) of the document's canonical JSON. */
export function rowHash(doc: Document): string {
  return createHash('sha256').update(canonicalJson(doc)).digest('base64')
}

/** The top-level fields whose values differ between two documents (in either), sorted. */
export function differingColumns(a: Document, b: Document): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)])
  const out: string[] = []
  for (const n of names) {
    if (!(n in a) || !(n in b) || canonicalJson(a[n]) !== canonicalJson(b[n])) out.push(n)
  }
  return out.sort()
}

/** The key row (key columns only) of a row. */
function keyOf(table: TableSchema, row: Row): Row {
  const key: Row = {}
  for (const k of table.keyColumns) key[k] = row[k]
  return key
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (ms <= 0) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }
    function onAbort(): void {
      clearTimeout(t)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })

/** A sink being compared with the current table. */
interface Lane {
  readonly reader: SinkReader
  readonly report: TableReport
  /** Keys listed in the target not yet seen in the source (null: not listed). */
  readonly unseen: Set<string> | null
  /** Suspects awaiting their recheck: key → source cursor. */
  suspects: Map<string, readonly unknown[]>
  suspectsSince: number
}

/**
 * Compares every table of the scanner with every verifiable sink. Opens and closes the
 * scanner and the readers. Throws on a source or sink failure (the report is then moot).
 */
export async function verifyPipeline(opts: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now()
  const { scanner, signal } = opts
  const sinks: SinkReport[] = opts.sinks.map((s) => ({
    index: s.index,
    type: s.type,
    target: 'unverifiable' in s.verifier ? null : s.verifier.target,
    unverifiable: 'unverifiable' in s.verifier ? s.verifier.unverifiable : null,
    tables: [],
  }))
  const readers = opts.sinks.map((s) => ('unverifiable' in s.verifier ? null : s.verifier))
  const opened: SinkReader[] = []
  try {
    await scanner.open()
    for (const r of readers) {
      if (!r) continue
      opened.push(r)
      await r.open()
    }
    const tables = scanner.tables()
    for (const table of tables) {
      const lanes: Lane[] = []
      for (let i = 0; i < readers.length; i++) {
        const reader = readers[i]
        if (!reader) continue
        const location = reader.location(table)
        const shared = tables.some((t) => t !== table && reader.location(t) === location)
        const report: TableReport = {
          table: `${table.schema}.${table.table}`,
          location,
          sourceRows: 0,
          targetKeys: null,
          matched: 0,
          rechecked: 0,
          missing: 0,
          extra: 0,
          differing: 0,
          examples: { missing: [], extra: [], differing: [] },
        }
        sinks[i]!.tables.push(report)
        let unseen: Set<string> | null = null
        if (!shared) {
          unseen = new Set()
          for await (const keys of reader.keys(table)) for (const k of keys) unseen.add(k)
          report.targetKeys = unseen.size
        }
        lanes.push({ reader, report, unseen, suspects: new Map(), suspectsSince: 0 })
      }
      await compareTable(table, lanes, opts)
      signal?.throwIfAborted()
    }
  } finally {
    await scanner.close().catch(() => {})
    for (const r of opened) await r.close().catch(() => {})
  }
  const totals = { tables: 0, sourceRows: 0, missing: 0, extra: 0, differing: 0 }
  const verified = sinks.filter((s) => s.unverifiable === null)
  for (const s of verified) {
    for (const t of s.tables) {
      totals.missing += t.missing
      totals.extra += t.extra
      totals.differing += t.differing
    }
  }
  // Every verified sink saw the same source rows: count them once.
  totals.tables = verified[0]?.tables.length ?? 0
  totals.sourceRows = verified[0]?.tables.reduce((n, t) => n + t.sourceRows, 0) ?? 0
  return {
    sinks,
    totals,
    inSync: totals.missing + totals.extra + totals.differing === 0,
    durationMs: Date.now() - started,
  }
}

/** The expected document of a row for one sink. */
function expectedDoc(reader: SinkReader, table: TableSchema, row: Row): Document {
  // Documents are JSON-safe (sinks/document.ts), so the canonical JSON of this object is
  // that of what a reader parses back from the sink's JSON: no round trip needed.
  const doc = toDocument(table, row)
  return reader.expected ? reader.expected(table, doc) : doc
}

/** Scans one table and compares it with every lane; rechecks the suspects; counts extras. */
async function compareTable(table: TableSchema, lanes: Lane[], opts: VerifyOptions): Promise<void> {
  const name = `${table.schema}.${table.table}`
  for await (const chunk of opts.scanner.scan(table, opts.chunkSize)) {
    opts.signal?.throwIfAborted()
    const keyed = chunk.map((r) => ({ key: keyString(table, keyOf(table, r.row)), scanned: r }))
    const keys = keyed.map((k) => k.key)
    for (const lane of lanes) {
      lane.report.sourceRows += chunk.length
      const docs = await lane.reader.fetch(table, keys)
      for (const { key, scanned } of keyed) {
        lane.unseen?.delete(key)
        const stored = docs.get(key)
        if (stored && rowHash(expectedDoc(lane.reader, table, scanned.row)) === rowHash(stored)) {
          lane.report.matched++
          continue
        }
        if (lane.suspects.size === 0) lane.suspectsSince = Date.now()
        lane.suspects.set(key, scanned.cursor)
      }
      if (lane.suspects.size >= opts.chunkSize) await recheck(table, lane, opts)
    }
    opts.onChunk?.(name, chunk.length)
  }
  for (const lane of lanes) {
    if (lane.suspects.size > 0) await recheck(table, lane, opts)
    if (lane.unseen && lane.unseen.size > 0) await recheckExtras(table, lane, opts)
  }
}

/** Reads the suspects again in the source and the sink, once their delay has passed, and records what remains. */
async function recheck(table: TableSchema, lane: Lane, opts: VerifyOptions): Promise<void> {
  const suspects = lane.suspects
  lane.suspects = new Map()
  const wait = Math.max(0, lane.suspectsSince + opts.recheckMs - Date.now())
  opts.onRecheck?.(lane.report.table, suspects.size, wait)
  await sleep(wait, opts.signal)
  lane.report.rechecked += suspects.size
  const keys = [...suspects.keys()]
  const cursors = [...suspects.values()]
  for (let i = 0; i < keys.length; i += opts.chunkSize) {
    const rows = await opts.scanner.lookup(table, cursors.slice(i, i + opts.chunkSize))
    const current = new Map(rows.map((r) => [keyString(table, keyOf(table, r.row)), r.row]))
    const batch = keys.slice(i, i + opts.chunkSize)
    const docs = await lane.reader.fetch(table, batch)
    const r = lane.report
    for (const key of batch) {
      const row = current.get(key)
      const stored = docs.get(key)
      if (!row) {
        // Deleted from the source meanwhile: fine if the sink dropped it too.
        if (stored) {
          r.extra++
          addExample(r.examples.extra, key, opts.examples)
        }
        continue
      }
      if (!stored) {
        r.missing++
        addExample(r.examples.missing, key, opts.examples)
        continue
      }
      const expected = expectedDoc(lane.reader, table, row)
      if (rowHash(expected) === rowHash(stored)) {
        r.matched++
        continue
      }
      r.differing++
      if (r.examples.differing.length < opts.examples)
        r.examples.differing.push({ key, columns: differingColumns(expected, stored) })
    }
  }
}

/** Keys the sink holds that the scan never met: extra if the sink still holds them after the delay. */
async function recheckExtras(table: TableSchema, lane: Lane, opts: VerifyOptions): Promise<void> {
  opts.onRecheck?.(lane.report.table, lane.unseen!.size, opts.recheckMs)
  await sleep(opts.recheckMs, opts.signal)
  lane.report.rechecked += lane.unseen!.size
  const keys = [...lane.unseen!].sort()
  lane.unseen!.clear()
  for (let i = 0; i < keys.length; i += opts.chunkSize) {
    const batch = keys.slice(i, i + opts.chunkSize)
    const docs = await lane.reader.fetch(table, batch)
    for (const key of batch) {
      if (!docs.has(key)) continue
      lane.report.extra++
      addExample(lane.report.examples.extra, key, opts.examples)
    }
  }
}

/** Keeps `key` as an example while the list is shorter than `max`. */
function addExample(list: string[], key: string, max: number): void {
  if (list.length < max) list.push(key)
}
