import mysqlCb from 'mysql2'
import mysql from 'mysql2/promise'
import type { Logger } from 'pino'
import { PreconditionError, SluiceError, SourceError } from '../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent, Op, Row, SnapshotMarker } from '../../pipeline/event.js'
import { summarizeTransaction } from '../../pipeline/event.js'
import {
  isRowError,
  rejectedEvent,
  rejectedRead,
  rowFailure as failureOf,
  splitRejected,
  type RowFailure,
  type RejectedRow,
} from '../../pipeline/dead-letter.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { Source, SourceContext } from '../../pipeline/source.js'
import { StreamBuffer } from '../../pipeline/stream-buffer.js'
import { snapshotMode } from '../../snapshot/modes.js'
import {
  ABSENT,
  BinlogDecoder,
  type BinlogEvent,
  type RowImage,
  type RowsEvent,
  type TableMap,
} from './binlog/index.js'
import type { BinlogValue } from './binlog/values.js'
import { tableColumns } from './catalog.js'
import type { MysqlConfig } from './config.js'
import { classifyMysqlError, redactUrl } from './errors.js'
import {
  END,
  PHASE_SNAPSHOT,
  PHASE_STREAM,
  comparePositions,
  fileSequence,
  formatPosition,
  parsePosition,
  positionBuilder,
  type MysqlPosition,
} from './position.js'
import { gtidState, type GtidState } from './gtid.js'
import { ident, preflight, qualified, type MysqlPreflightResult, type MysqlTableMeta } from './preflight.js'
import { BinlogStream, type BinlogStart } from './replication.js'
import { openSnapshot } from './snapshot-reader.js'
import { mysqlSource } from './source-info.js'
import {
  mysqlColumnSchema,
  SNAPSHOT_QUERY_OPTIONS,
  SNAPSHOT_SESSION_SQL,
  snapshotColumnSql,
  type MysqlColumnSchema,
} from './types.js'
import type { MysqlColumnInfo } from './catalog.js'

/** Events per batch handed to the pipeline. */
const BATCH_EVENTS = 2000
/** Bytes of row data per batch (estimated from event sizes). */
const BATCH_BYTES = 4 << 20
/** Batches queued for the pipeline before the binlog connection is paused. */
const MAX_QUEUED_BATCHES = 2

/** A captured table's schema with its per-column binlog converters. */
interface MysqlTable {
  readonly schema: TableSchema
  readonly columns: readonly MysqlColumnSchema[]
  readonly keyIndexes: readonly number[]
  /** Column names in table order, to check against the TABLE_MAP. */
  readonly names: readonly string[]
  /** information_schema facts per column (snapshot SELECT expressions). */
  readonly infos: readonly MysqlColumnInfo[]
}

interface Tx {
  readonly file: string
  readonly offset: number
  readonly gtid: string
  /** server_id of the event group (binlog event header): the server that wrote it. */
  readonly serverId: number
  readonly pos: (index: number) => string
  readonly tsMs: number
  readonly id: string
  index: number
  /** Rows with an index up to this were delivered before a GTID resume (-1: none). */
  readonly skipUpTo: number
  readonly perTable: Map<TableSchema, number>
}

/** Where and how a binlog stream starts. */
interface StreamPlan {
  /** `gtid`: a GTID dump from `start.gtid`; `file`: a dump from a file and offset. */
  readonly method: 'gtid' | 'file'
  readonly start: BinlogStart
  /** The GTID state at the start (null: unknown; MariaDB looks it up). */
  readonly state: string | null
  /** Sort-key base of the positions (position.ts). */
  readonly base: number
  /** The stored position resumed after (null right after a snapshot of this run). */
  readonly from: string | null
}

/** A finished (or aborted) snapshot's binlog point. */
interface SnapshotResult {
  readonly file: string
  readonly position: number
  readonly gtid: string
  readonly base: number
}

/**
 * The sort-key base for coordinates `file`/`offset` that come after `previous` in time: the
 * previous base, or a higher one when the coordinates would sort at or before it (the
 * server's binlog files were renumbered: RESET MASTER, or a failover to a replica whose
 * files have lower numbers), so positions keep increasing. Logged when raised.
 */
function rebaseFor(
  previous: MysqlPosition | null,
  file: string,
  offset: number,
  phase: string,
  index: number,
  log: Logger,
): number {
  if (!previous) return 0
  const base = previous.base ?? 0
  const prev = formatPosition(previous)
  const probe = formatPosition({ file, offset, phase, index, gtid: '', base })
  if (comparePositions(probe, prev) > 0) return base
  const raised = fileSequence(previous.file) + base - fileSequence(file) + 1
  log.warn(
    { file, offset, previous: prev, base: raised },
    'the binlog coordinates sort before the stored position (binlog files renumbered); positions continue with a higher file-sequence base so they keep increasing',
  )
  return raised
}

/**
 * MySQL/MariaDB source: a consistent snapshot (MariaDB: lock-free `START TRANSACTION WITH
 * CONSISTENT SNAPSHOT` and `binlog_snapshot_file/position`; MySQL: a brief global read lock
 * while the coordinates are read), then the row binlog from those coordinates, as
 * transactions in binlog (= commit) order. Positions: see position.ts. There is nothing to
 * acknowledge upstream: the binlog is not consumed; the state store holds the position.
 */
export class MysqlSource implements Source {
  private readonly log: Logger
  private pre: MysqlPreflightResult | null = null
  private readonly tables = new Map<string, MysqlTable>()
  private stream: BinlogStream | null = null

  constructor(
    private readonly cfg: MysqlConfig,
    private readonly ctx: SourceContext,
  ) {
    this.log = ctx.log
  }

  async preflight(): Promise<void> {
    this.pre = await preflight(this.cfg)
    for (const w of this.pre.warnings) this.log.warn({ code: w.code }, w.message)
  }

  start(from: string | null, signal: AbortSignal): AsyncIterable<ChangeBatch> {
    return this.run(from, signal)
  }

  async acknowledge(): Promise<void> {
    // The binlog is not consumed by reading it; the recorded position is all there is.
  }

  async stop(): Promise<void> {
    await this.stream?.end().catch(() => {})
    this.stream = null
  }

  private async connect(): Promise<mysql.Connection> {
    try {
      return await mysql.createConnection({
        uri: this.cfg.url,
        supportBigNumbers: true,
        bigNumberStrings: true,
      })
    } catch (err) {
      throw classifyMysqlError(err, redactUrl(this.cfg.url))
    }
  }

  /** Builds (or rebuilds after DDL) the schemas of the captured tables from information_schema. */
  private async loadSchemas(conn: mysql.Connection, metas: readonly MysqlTableMeta[]): Promise<void> {
    const cols = await tableColumns(
      conn,
      metas.map((m) => ({ db: m.schema, table: m.name })),
    )
    for (const m of metas) {
      const name = qualified(m)
      const info = cols.get(name) ?? []
      const columns = info.map((c) =>
        mysqlColumnSchema({
          table: name,
          column: c,
          avro: this.ctx.avro,
          flavour: this.pre!.flavour,
          zeroDates: this.cfg.zero_dates,
          bigintUnsigned: this.cfg.bigint_unsigned,
        }),
      )
      const schema: TableSchema = {
        connector: 'mysql',
        db: m.schema,
        schema: m.schema,
        table: m.name,
        columns,
        keyColumns: m.keyColumns,
        version: this.nextVersion(),
      }
      this.tables.set(name, {
        schema,
        columns,
        keyIndexes: m.keyColumns.map((k) => columns.findIndex((c) => c.name === k)),
        names: columns.map((c) => c.name),
        infos: info,
      })
    }
  }

  private async *run(from: string | null, signal: AbortSignal): AsyncGenerator<ChangeBatch> {
    if (!this.pre) await this.preflight()
    const mode = snapshotMode(this.cfg.snapshot)
    const pos = from ? parsePosition(from) : null
    const snapshotDone = pos !== null && (pos.phase === PHASE_STREAM || pos.index === END)
    if (mode.shouldSnapshot(pos !== null, snapshotDone)) {
      const point = yield* this.snapshot(signal, pos)
      if (signal.aborted || !mode.shouldStream()) return
      yield* this.streamFrom(this.planAfterSnapshot(point), signal)
      return
    }
    if (!mode.shouldStream()) return
    const conn = await this.connect()
    let plan: StreamPlan
    try {
      await this.loadSchemas(conn, this.pre!.tables)
      if (pos) plan = this.resumePlan(pos, from!)
      else {
        const [rows] = await conn.query('SHOW MASTER STATUS')
        const r = (rows as { File: string; Position: number; Executed_Gtid_Set?: string }[])[0]
        if (!r)
          throw new PreconditionError(
            'MYSQL_BINLOG_DISABLED',
            'the server reports no binary log: enable log_bin',
          )
        plan = {
          method: 'file',
          start: { file: r.File, position: Number(r.Position) },
          // MariaDB: looked up with BINLOG_GTID_POS when the stream connects.
          state: this.pre!.flavour === 'mysql' ? String(r.Executed_Gtid_Set ?? '').replace(/\s+/g, '') : null,
          base: 0,
          from: null,
        }
      }
    } finally {
      await conn.end().catch(() => {})
    }
    let streamed = false
    try {
      for await (const batch of this.streamFrom(plan, signal)) {
        streamed = true
        yield batch
      }
    } catch (err) {
      const purged = err instanceof SluiceError && err.code === 'MYSQL_BINLOG_PURGED'
      if (!purged || streamed || this.cfg.on_binlog_purged !== 'snapshot' || signal.aborted) throw err
      // Loud: consumers get a full re-read instead of the missed changes (deletes are lost).
      this.log.warn(
        { code: err.code, err, from },
        'the binlog needed to resume was purged, so the changes since the stored position cannot be streamed: taking a new snapshot of every captured table (source.on_binlog_purged: snapshot)',
      )
      const point = yield* this.snapshot(signal, pos)
      if (signal.aborted || !mode.shouldStream()) return
      yield* this.streamFrom(this.planAfterSnapshot(point), signal)
    }
  }

  /** Streaming right after a snapshot of this run: from its binlog point, by file and offset. */
  private planAfterSnapshot(point: SnapshotResult): StreamPlan {
    return {
      method: 'file',
      start: { file: point.file, position: point.position },
      state: point.gtid === '' && this.pre!.flavour === 'mariadb' ? null : point.gtid,
      base: point.base,
      from: null,
    }
  }

  /**
   * How to resume after a stored position (source.resume_by). By GTID: the position's
   * resume state (see position.ts) goes to the server, which streams what follows it
   * whatever its files are called. By file: the dump restarts at the offset where the
   * position's transaction starts (or at the snapshot point), and the StreamBuffer drops
   * what was delivered.
   */
  private resumePlan(pos: MysqlPosition, from: string): StreamPlan {
    const pre = this.pre!
    // Snapshot positions written before the resume field existed carry the state as gtid.
    const state = pos.resume || (pos.phase === PHASE_SNAPSHOT ? pos.gtid : '')
    const serverHasGtids = pre.flavour === 'mariadb' || pre.gtidMode === 'on'
    const want = this.cfg.resume_by
    if (want === 'gtid' && (!serverHasGtids || !state)) {
      throw new PreconditionError(
        'MYSQL_GTID_RESUME_UNAVAILABLE',
        !serverHasGtids
          ? `source.resume_by is gtid but the server has gtid_mode=${pre.gtidMode.toUpperCase()}: enable GTIDs (gtid_mode=ON, enforce_gtid_consistency=ON) or set source.resume_by: auto or file`
          : `source.resume_by is gtid but the stored position ${from} carries no GTID state (it was written by an older Sluice or before the server's first GTID): set source.resume_by: auto or file for this restart`,
      )
    }
    const base = pos.base ?? 0
    if (want !== 'file' && serverHasGtids && state) {
      this.log.info({ method: 'gtid', gtid: state, from }, 'resuming by GTID')
      return { method: 'gtid', start: { gtid: state }, state, base, from }
    }
    this.log.info(
      { method: 'file', file: pos.file, offset: pos.offset, from },
      'resuming by binlog file and offset',
    )
    return {
      method: 'file',
      start: { file: pos.file, position: pos.offset },
      // At a transaction's start the state before it is needed: the resume state of a row
      // position is that; an END position's includes the transaction, which is read again
      // (and skipped) first. MariaDB looks it up (BINLOG_GTID_POS) when unknown.
      state: state || null,
      base,
      from,
    }
  }

  /**
   * Reads every captured table inside one consistent-snapshot transaction and returns the
   * binlog coordinates the snapshot corresponds to; the stream continues from there.
   */
  private async *snapshot(
    signal: AbortSignal,
    previous: MysqlPosition | null,
  ): AsyncGenerator<ChangeBatch, SnapshotResult> {
    const log = this.log.child({ phase: 'snapshot' })
    const conn = await this.connect()
    const startedMs = Date.now()
    try {
      // Text renderings the converters rely on (UTC timestamps, unpadded CHAR, utf8mb4).
      for (const sql of SNAPSHOT_SESSION_SQL) await conn.query(sql)
      await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
      const { file, position, gtid } = await openSnapshot(this.pre!.flavour, async (sql, params) => {
        const [rows] = await conn.query(sql, params)
        return rows as Record<string, unknown>[]
      })
      await this.loadSchemas(conn, this.pre!.tables)
      // Re-snapshotting at the very point of an unfinished snapshot repeats its positions.
      const samePoint =
        previous?.phase === PHASE_SNAPSHOT && previous.file === file && previous.offset === position
      const base = samePoint
        ? (previous.base ?? 0)
        : rebaseFor(previous, file, position, PHASE_SNAPSHOT, 0, log)
      const pos = positionBuilder(file, position, PHASE_SNAPSHOT, gtid, '', base)
      log.info({ file, position, gtid }, 'snapshot started')
      let index = 0
      let held: { t: MysqlTable; row: Row; key: Row | null; failed: RowFailure | null } | null = null
      let batch: ChangeEvent[] = []
      let bytes = 0
      // Rows that failed conversion travel as placeholders (rejectRows); split out on yield.
      let anyRejected = false
      const out = (b: ChangeBatch): ChangeBatch => (anyRejected ? splitRejected(b) : b)
      const event = (h: NonNullable<typeof held>, marker: SnapshotMarker): ChangeEvent => {
        const ev = snapshotEvent(h, marker)
        return h.failed ? rejectedRead(ev, h.failed) : ev
      }
      const snapshotEvent = (h: NonNullable<typeof held>, marker: SnapshotMarker): ChangeEvent => {
        const p = pos(index)
        const ev = makeEvent('r', h.t, null, h.row, h.key, p, 0)
        const source = mysqlSource(
          this.ctx.pipeline,
          h.t.schema.db,
          h.t.schema.table,
          startedMs,
          marker,
          this.pre!.serverId,
          gtid || null,
          file,
          position,
          index,
          null,
          p,
        )
        index++
        return { ...ev, source }
      }
      for (const m of this.pre!.tables) {
        const t = this.tables.get(qualified(m))!
        const [est] = await conn.query(
          'SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
          [m.schema, m.name],
        )
        const estimate = Number((est as { n: number | null }[])[0]?.n ?? 0)
        let rows = 0
        let lastProgress = 0
        const sql = `SELECT ${t.infos.map(snapshotColumnSql).join(', ')} FROM ${ident(m.schema)}.${ident(m.name)}`
        const stream = (conn as unknown as { connection: mysqlCb.Connection }).connection
          .query({ sql, rowsAsArray: true, ...SNAPSHOT_QUERY_OPTIONS })
          .stream({ highWaterMark: 1000 })
        for await (const values of stream as AsyncIterable<unknown[]>) {
          const row: Row = {}
          let failed: RowFailure | null = null
          try {
            for (let i = 0; i < t.columns.length; i++) {
              const v = values[i]
              const c = t.columns[i]!
              row[c.name] = v === null || v === undefined ? null : c.fromText(v as string)
            }
          } catch (err) {
            if (!this.ctx.rejectRows || !isRowError(err)) throw err
            failed = rowFailure(err, t, values, (c, v) => c.fromText(v as string))
            anyRejected = true
          }
          const key = failed ? null : keyOf(t, row)
          if (held) batch.push(event(held, 'true'))
          held = { t, row, key, failed }
          rows++
          bytes += approxSize(values)
          if (batch.length > 0 && (batch.length >= BATCH_EVENTS || bytes >= BATCH_BYTES)) {
            yield out({ events: batch, checkpoint: batch[batch.length - 1]!.position, bytes })
            batch = []
            bytes = 0
            if (signal.aborted) return { file, position, gtid, base }
          }
          const now = Date.now()
          if (now - lastProgress > 250) {
            lastProgress = now
            this.ctx.onSnapshotProgress?.({ table: qualified(m), rows, estimate, done: false })
          }
        }
        this.ctx.onSnapshotProgress?.({ table: qualified(m), rows, estimate, done: true })
        log.info({ table: qualified(m), rows }, 'snapshot of table done')
      }
      await conn.query('COMMIT')
      if (held) batch.push(event(held, 'last'))
      yield out({
        events: batch,
        checkpoint: formatPosition({
          file,
          offset: position,
          phase: PHASE_SNAPSHOT,
          index: END,
          gtid,
          resume: gtid,
          base,
        }),
        bytes,
      })
      log.info({ events: index, ms: Date.now() - startedMs }, 'snapshot done')
      return { file, position, gtid, base }
    } catch (err) {
      throw classifyMysqlError(err, redactUrl(this.cfg.url))
    } finally {
      await conn.end().catch(() => {})
    }
  }

  /** Streams the binlog as `plan` says, skipping events at or before its `from`. */
  private streamFrom(plan: StreamPlan, signal: AbortSignal): AsyncGenerator<ChangeBatch> {
    const reader = new BinlogReader(this, plan, this.log.child({ phase: 'streaming' }))
    return reader.run(signal)
  }

  private readonly shapes = new Map<string, MysqlTable>()
  private versions = 0

  /** Every distinct schema object gets a new, higher version. */
  private nextVersion(): number {
    return ++this.versions
  }

  /**
   * The table as a TABLE_MAP describes it. With binlog_row_metadata=FULL the map names its
   * columns: when they differ from the table's current columns (a column was added or
   * dropped after these rows were written), the schema is narrowed to the columns the rows
   * have, by name, so rows written before an ALTER still decode; a column the current table
   * lacks cannot be typed, so null is returned. Without names, the column count must match.
   */
  private shapeFor(current: MysqlTable, map: TableMap): MysqlTable | null {
    const names = map.columns.map((c) => c.name)
    if (names.some((n) => n === null)) return names.length === current.names.length ? current : null
    if (names.length === current.names.length && names.every((n, i) => n === current.names[i])) return current
    const key = `${current.schema.schema}.${current.schema.table}\u0000${current.schema.version}\u0000${names.join('\u0000')}`
    const cached = this.shapes.get(key)
    if (cached) return cached
    const columns: MysqlColumnSchema[] = []
    for (const n of names as string[]) {
      const c = current.columns.find((x) => x.name === n)
      if (!c) return null
      columns.push(c)
    }
    const keyColumns = current.schema.keyColumns.filter((k) => columns.some((c) => c.name === k))
    const shaped: MysqlTable = {
      schema: { ...current.schema, columns, keyColumns, version: this.nextVersion() },
      columns,
      keyIndexes: keyColumns.map((k) => columns.findIndex((c) => c.name === k)),
      names: columns.map((c) => c.name),
      infos: columns.map((c) => current.infos[current.columns.indexOf(c)]!),
    }
    this.shapes.set(key, shaped)
    return shaped
  }

  /** @internal for BinlogReader */
  get internals(): {
    cfg: MysqlConfig
    ctx: SourceContext
    pre: MysqlPreflightResult
    tables: Map<string, MysqlTable>
    setStream(s: BinlogStream): void
    reload(): Promise<void>
    shapeFor(current: MysqlTable, map: TableMap): MysqlTable | null
  } {
    return {
      cfg: this.cfg,
      ctx: this.ctx,
      pre: this.pre!,
      tables: this.tables,
      setStream: (s) => (this.stream = s),
      shapeFor: (current, map) => this.shapeFor(current, map),
      reload: async () => {
        const conn = await this.connect()
        try {
          await this.loadSchemas(conn, this.pre!.tables)
        } finally {
          await conn.end().catch(() => {})
        }
      },
    }
  }
}

/** Approximate in-memory size of a snapshot row's values (for the in-flight byte cap). */
function approxSize(values: unknown[]): number {
  let n = 16
  for (const v of values) n += typeof v === 'string' || Buffer.isBuffer(v) ? v.length + 8 : 8
  return n
}

function keyOf(t: MysqlTable, row: Row): Row | null {
  if (t.keyIndexes.length === 0) return null
  const key: Row = {}
  for (const i of t.keyIndexes) {
    const name = t.columns[i]!.name
    key[name] = row[name]
  }
  return key
}

function makeEvent(
  op: Op,
  t: MysqlTable,
  before: Row | null,
  after: Row | null,
  key: Row | null,
  position: string,
  tsMs: number,
): Omit<ChangeEvent, 'source'> & { source: ChangeEvent['source'] } {
  return {
    op,
    table: t.schema,
    key,
    before,
    after,
    position,
    source: null as unknown as ChangeEvent['source'],
    transaction: null,
    ts_ms: tsMs || Date.now(),
  }
}

/** TRUNCATE [TABLE] [db.]name — the only DDL turned into an event. */
const TRUNCATE = /^\s*TRUNCATE\s+(?:TABLE\s+)?(?:`?([^`.\s]+)`?\.)?`?([^`\s;]+)`?/i
/** Statements that change a table's shape: cached schemas are rebuilt at the next TABLE_MAP. */
const DDL = /^\s*(?:ALTER|CREATE|DROP|RENAME)\s/i

/**
 * The streaming half: decodes binlog events as they arrive (synchronously, inside the socket
 * callback), assembles transactions (a GTID event opens one; XID, or a QUERY COMMIT or
 * ROLLBACK for non-transactional engines, ends it; a standalone DDL group ends with its
 * statement), turns row images into events and queues batches for the pipeline. A full
 * queue pauses the binlog connection.
 */
class BinlogReader {
  private readonly deps: MysqlSource['internals']
  private decoder: BinlogDecoder
  private stream: BinlogStream | null = null
  private file = ''
  private tx: Tx | null = null
  /** A row failed conversion and travels as a placeholder: batches are split from then on. */
  private anyRejected = false
  private readonly byTableId = new Map<number, MysqlTable | null>()
  private readonly buf: StreamBuffer<Buffer>
  /** The GTID state after the last completed group (position.ts `<resume>`). */
  private readonly gtids: GtidState
  private base: number
  private readonly from: string | null
  private readonly fromPos: MysqlPosition | null
  /** GTID resume: the first group still has to be checked against `from` (rebase). */
  private checkFirst: boolean
  /** GTID resume from a row: the transaction to skip rows of, up to `fromPos.index`. */
  private skipGtid: string

  constructor(
    source: MysqlSource,
    private readonly plan: StreamPlan,
    private readonly log: Logger,
  ) {
    this.deps = source.internals
    this.decoder = new BinlogDecoder({ flavour: this.deps.pre.flavour })
    this.gtids = gtidState(this.deps.pre.flavour, plan.state)
    this.base = plan.base
    this.from = plan.from
    this.fromPos = plan.from ? parsePosition(plan.from) : null
    const byGtid = plan.method === 'gtid' && this.fromPos !== null
    this.checkFirst = byGtid
    this.skipGtid =
      byGtid && this.fromPos!.phase === PHASE_STREAM && this.fromPos!.index < END ? this.fromPos!.gtid : ''
    this.buf = new StreamBuffer<Buffer>({
      batchEvents: BATCH_EVENTS,
      batchBytes: BATCH_BYTES,
      maxQueued: MAX_QUEUED_BATCHES,
      // By GTID the server starts at the right transaction and the rows already delivered
      // are skipped by GTID identity (coordinates may differ from the stored ones).
      from: byGtid ? null : plan.from,
      compare: comparePositions,
      pause: () => this.stream?.pause(),
      resume: () => this.stream?.resume(),
      handle: (event) => this.handle(this.decoder.decode(event)),
    })
  }

  async *run(signal: AbortSignal): AsyncGenerator<ChangeBatch> {
    const { cfg, pre } = this.deps
    const start = this.plan.start
    const stream = new BinlogStream({
      url: cfg.url,
      serverId: cfg.server_id,
      heartbeatMs: cfg.heartbeat_interval_ms,
      log: this.log,
    })
    this.stream = stream
    this.deps.setStream(stream)
    try {
      const info = await stream.connect()
      // The artificial ROTATE that opens a dump precedes the first FORMAT_DESCRIPTION: its
      // checksum is the algorithm negotiated on the connection.
      this.decoder = new BinlogDecoder({
        flavour: pre.flavour,
        checksum: info.checksum === 'CRC32' ? 'crc32' : 'none',
      })
      if (!this.gtids.known && pre.flavour === 'mariadb' && 'file' in start) {
        // The GTID state at a group boundary, for the positions' resume field.
        const [row] = await stream
          .query<{ g: string | null }>('SELECT BINLOG_GTID_POS(?, ?) AS g', [start.file, start.position])
          .catch(() => [{ g: null }])
        this.gtids.reset(row?.g ?? null)
      }
    } catch (err) {
      throw classifyMysqlError(err, redactUrl(cfg.url))
    }
    if ('file' in start) this.file = start.file
    stream.start(start, { onEvent: (event) => this.buf.push(event) }).then(
      () => this.buf.end(),
      (err: unknown) => this.buf.fail(err),
    )
    this.log.info({ method: this.plan.method, start, from: this.from }, 'streaming started')
    for await (const b of this.buf.batches(signal)) yield this.anyRejected ? splitRejected(b) : b
  }

  private block(work: () => Promise<void>): void {
    this.buf.block(work)
  }

  private begin(offset: number, gtid: string, tsMs: number, serverId: number): void {
    // A group that ended without a terminator we act on (a standalone statement such as
    // GRANT) is complete once the next one starts.
    if (this.tx) this.gtids.add(this.tx.gtid)
    let skipUpTo = -1
    if (this.skipGtid !== '' && gtid === this.skipGtid) {
      skipUpTo = this.fromPos!.index
      this.skipGtid = ''
    }
    if (this.checkFirst) {
      this.checkFirst = false
      const from = this.fromPos!
      // Rows after the resumed index, or the whole of a later transaction, must sort after
      // the stored position; on renumbered files they would not: raise the base.
      this.base = rebaseFor(
        { ...from, base: this.base },
        this.file,
        offset,
        PHASE_STREAM,
        skipUpTo + 1,
        this.log,
      )
    }
    const before = this.gtids.known ? this.gtids.toString() : ''
    this.tx = {
      file: this.file,
      offset,
      gtid,
      serverId,
      pos: positionBuilder(this.file, offset, PHASE_STREAM, gtid, before, this.base),
      tsMs,
      id: gtid || `${this.file}:${offset}`,
      index: 0,
      skipUpTo,
      perTable: new Map(),
    }
  }

  private commit(): void {
    const tx = this.tx
    this.tx = null
    if (!tx) return
    this.gtids.add(tx.gtid)
    const checkpoint = formatPosition({
      file: tx.file,
      offset: tx.offset,
      phase: PHASE_STREAM,
      index: END,
      gtid: tx.gtid,
      resume: this.gtids.known ? this.gtids.toString() : '',
      base: this.base,
    })
    if (this.from !== null && comparePositions(checkpoint, this.from) <= 0) return
    this.buf.checkpoint(
      checkpoint,
      tx.index > 0
        ? summarizeTransaction(tx.id, tx.tsMs, tx.index, tx.perTable, (t) => `${t.db}.${t.table}`)
        : undefined,
    )
  }

  private handle(ev: BinlogEvent): void {
    switch (ev.type) {
      case 'rotate':
        this.file = ev.nextFile
        return
      case 'mariadbGtid': {
        const offset = ev.header.logPos - ev.header.eventSize
        this.begin(offset, ev.gtid, ev.header.timestamp * 1000, ev.header.serverId)
        return
      }
      case 'mysqlGtid': {
        const offset = ev.header.logPos - ev.header.eventSize
        this.begin(offset, ev.gtid, ev.header.timestamp * 1000, ev.header.serverId)
        return
      }
      case 'mariadbGtidList':
        this.gtids.fromMariadbList(ev.gtids)
        return
      case 'previousGtids':
        this.gtids.fromMysqlSets(ev.sets)
        return
      case 'query':
        this.onQuery(ev.query, ev.schema, ev.header)
        return
      case 'xid':
        this.commit()
        return
      case 'tableMap':
        this.onTableMap(ev.table)
        return
      case 'writeRows':
      case 'updateRows':
      case 'deleteRows':
        this.onRows(ev)
        return
      case 'transactionPayload':
        for (const inner of ev.events) this.handle(inner)
        return
      default:
        return
    }
  }

  private onQuery(sql: string, defaultDb: string, header: BinlogEvent['header']): void {
    const offset = header.logPos - header.eventSize
    const tsMs = header.timestamp * 1000
    const upper = sql.trimStart().slice(0, 8).toUpperCase()
    if (upper.startsWith('BEGIN')) {
      if (!this.tx) this.begin(offset, '', tsMs, header.serverId)
      return
    }
    if (upper.startsWith('COMMIT') || upper.startsWith('ROLLBACK')) {
      this.commit()
      return
    }
    const trunc = TRUNCATE.exec(sql)
    if (trunc) {
      if (!this.tx) this.begin(offset, '', tsMs, header.serverId)
      const name = `${trunc[1] ?? defaultDb}.${trunc[2]}`
      const t = this.deps.tables.get(name)
      if (t) this.emitRow('t', t, null, null, null, 0)
      // TRUNCATE and DDL commit implicitly: each is its own group.
      this.commit()
    } else if (DDL.test(sql)) {
      if (!this.tx) this.begin(offset, '', tsMs, header.serverId)
      // Shapes may have changed: forget table ids and rebuild schemas before the next rows.
      this.byTableId.clear()
      this.block(() => this.deps.reload())
      this.commit()
    }
    // Other statements (SAVEPOINT, statement-format changes) carry no rows to capture.
  }

  private onTableMap(map: TableMap): void {
    if (this.byTableId.has(map.tableId)) return
    const name = `${map.schema}.${map.table}`
    const current = this.deps.tables.get(name)
    if (!current) {
      this.byTableId.set(map.tableId, null)
      return
    }
    const resolved = this.deps.shapeFor(current, map)
    if (resolved) {
      this.byTableId.set(map.tableId, resolved)
      return
    }
    // The binlog has a column the schema we read does not: read it again (it may have been
    // read before a DDL statement earlier in the stream took effect).
    this.byTableId.set(map.tableId, null)
    this.block(async () => {
      await this.deps.reload()
      const again = this.deps.shapeFor(this.deps.tables.get(name)!, map)
      if (!again) {
        throw new SourceError(
          'MYSQL_SCHEMA_MISMATCH',
          `the binlog row format of ${name} (columns ${map.columns.map((c) => c.name ?? '?').join(', ')}) does not match the table as it is now: it was altered (a column dropped or renamed) after these changes were written; delete the pipeline's state to re-snapshot`,
        )
      }
      this.byTableId.set(map.tableId, again)
    })
  }

  private row(t: MysqlTable, image: RowImage): Row {
    const row: Row = {}
    const cols = t.columns
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i]!
      const v = image[i]
      if (v === ABSENT) {
        throw new SourceError(
          'MYSQL_PARTIAL_ROW_IMAGE',
          `the binlog row image of ${t.schema.schema}.${t.schema.table} lacks column ${c.name}: set binlog_row_image=FULL on the server`,
        )
      }
      row[c.name] = v === null || v === undefined ? null : c.fromBinlog(v)
    }
    return row
  }

  private onRows(ev: RowsEvent): void {
    const t = this.byTableId.get(ev.tableId)
    if (!t) return
    const bytes = Math.ceil(ev.header.eventSize / Math.max(1, ev.rows.length))
    for (const change of ev.rows) {
      const op: Op = ev.type === 'writeRows' ? 'c' : ev.type === 'deleteRows' ? 'd' : 'u'
      let before: Row | null
      let after: Row | null
      try {
        before = change.before ? this.row(t, change.before) : null
        after = change.after ? this.row(t, change.after) : null
      } catch (err) {
        if (!this.deps.ctx.rejectRows || !isRowError(err)) throw err
        // The row travels as a placeholder with its raw values (see pipeline/dead-letter.ts).
        const conv = (c: MysqlColumnSchema, v: unknown): unknown => c.fromBinlog(v as BinlogValue)
        const fb = change.before ? rowFailure(err, t, change.before, conv) : null
        const fa = change.after ? rowFailure(err, t, change.after, conv) : null
        this.anyRejected = true
        this.emitRow(op, t, null, null, null, bytes, (position) => ({
          position,
          table: `${t.schema.schema}.${t.schema.table}`,
          op,
          error: err,
          column: fa?.column ?? fb?.column ?? null,
          before: fb?.raw ?? null,
          after: fa?.raw ?? null,
        }))
        continue
      }
      const oldKey = before ? keyOf(t, before) : null
      const newKey = after ? keyOf(t, after) : null
      if (op === 'u' && oldKey && newKey && !sameKey(t, oldKey, newKey)) {
        // A primary-key change: a delete of the old key, then a create of the new one.
        this.emitRow('d', t, before, null, oldKey, bytes)
        this.emitRow('c', t, null, after, newKey, 0)
        continue
      }
      this.emitRow(op, t, before, after, newKey ?? oldKey, bytes)
    }
  }

  private emitRow(
    op: Op,
    t: MysqlTable,
    before: Row | null,
    after: Row | null,
    key: Row | null,
    bytes: number,
    rejected?: (position: string) => RejectedRow,
  ): void {
    const tx = this.tx
    if (!tx) throw new SourceError('MYSQL_PROTOCOL', 'a row event arrived outside a transaction')
    const index = tx.index++
    const perTable = (tx.perTable.get(t.schema) ?? 0) + 1
    tx.perTable.set(t.schema, perTable)
    if (index <= tx.skipUpTo) return
    const position = tx.pos(index)
    const event: ChangeEvent = {
      op,
      table: t.schema,
      key,
      before,
      after,
      position,
      source: mysqlSource(
        this.deps.ctx.pipeline,
        t.schema.db,
        t.schema.table,
        tx.tsMs,
        'false',
        tx.serverId,
        tx.gtid || null,
        tx.file,
        tx.offset,
        index,
        null,
        position,
      ),
      transaction: { id: tx.id, total_order: tx.index, data_collection_order: perTable },
      ts_ms: Date.now(),
    }
    this.buf.emit(rejected ? rejectedEvent(event, rejected(position)) : event, bytes)
  }
}

function rowFailure(
  error: SluiceError,
  t: MysqlTable,
  values: readonly unknown[],
  convert: (c: MysqlColumnSchema, v: unknown) => unknown,
): RowFailure {
  return failureOf(error, t.names, values, (i, v) => convert(t.columns[i]!, v))
}

function sameKey(t: MysqlTable, a: Row, b: Row): boolean {
  for (const i of t.keyIndexes) {
    const n = t.columns[i]!.name
    const x = a[n]
    const y = b[n]
    if (x === y) continue
    if (Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y)) continue
    if (
      JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) !==
      JSON.stringify(y, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
    )
      return false
  }
  return true
}

/** Creates a MySQL source (registry entry's create()). */
export function createMysqlSource(cfg: MysqlConfig, ctx: SourceContext): MysqlSource {
  return new MysqlSource(cfg, ctx)
}
