import pg from 'pg'
import { to as copyTo } from 'pg-copy-streams'
import type { Logger } from 'pino'
import { PreconditionError, SourceError } from '../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent, Op, Row, SnapshotMarker } from '../../pipeline/event.js'
import { summarizeTransaction } from '../../pipeline/event.js'
import {
  isRowError,
  rejectedEvent,
  rejectedRead,
  rowFailure as failureOf,
  splitRejected,
  type RowFailure,
} from '../../pipeline/dead-letter.js'
import type { SluiceError } from '../../pipeline/errors.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { Source, SourceContext, SourceStatus } from '../../pipeline/source.js'
import { StreamBuffer } from '../../pipeline/stream-buffer.js'
import { snapshotMode } from '../../snapshot/modes.js'
import type { PostgresConfig } from './config.js'
import { CopyTextParser } from './copy-text.js'
import { classifyPgError, redactUrl } from './errors.js'
import {
  PgoutputDecoder,
  UNCHANGED_TOAST,
  type PgoutputMessage,
  type RelationMessage,
  type TupleValues,
} from './pgoutput/index.js'
import {
  END,
  PHASE_SNAPSHOT,
  PHASE_STREAM,
  makePosition,
  parseLsn,
  parsePosition,
  positionPrefix,
  withIndex,
} from './position.js'
import { preflight, type PreflightResult } from './preflight.js'
import { ReplicationStream } from './replication.js'
import { postgresSource } from './source-info.js'
import { ident, qualified, quoteTable, tableMeta, type TableMeta } from './tables.js'
import { TableSchemas } from './table-schemas.js'

/**
 * Session settings on every connection (regular, snapshot and replication). Text output
 * of dates, times, intervals, floats and bytea depends on them, and the converters in
 * types.ts rely on exactly these; the walsender renders pgoutput text values with its own
 * session settings, so they go in the startup packet.
 */
const SESSION_OPTIONS =
  '-c DateStyle=ISO,MDY -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c lc_monetary=C'

/** Events per batch handed to the pipeline. */
const BATCH_EVENTS = 2000
/** Bytes of row data per batch handed to the pipeline. */
const BATCH_BYTES = 4 << 20
/** Batches queued for the pipeline before the socket is paused. */
const MAX_QUEUED_BATCHES = 2
/** Prefix of Sluice's heartbeat messages (pg_logical_emit_message). */
export const HEARTBEAT_PREFIX = 'sluice_heartbeat'

/** Default slot/publication name for a pipeline: `sluice_<name>` with non-alphanumerics as `_`. */
export function defaultObjectName(pipeline: string): string {
  return `sluice_${pipeline.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63)
}

interface RelationState {
  readonly schema: TableSchema | null // null: not a captured table
  readonly meta: TableMeta | null
  readonly keyIndexes: number[]
}

interface TxState {
  readonly xid: number
  readonly commitLsn: bigint
  readonly commitMs: number
  readonly prefix: string
  readonly txId: string
  index: number
  readonly perTable: Map<TableSchema, number>
}

/**
 * Postgres source: an initial snapshot under the slot's exported snapshot, then the
 * pgoutput stream of the slot, in commit order. See position.ts for positions.
 */
export class PostgresSource implements Source {
  private readonly slot: string
  private readonly publication: string
  private readonly where: string
  private readonly clientConfig: pg.ClientConfig
  private readonly log: Logger
  private catalog: pg.Client | null = null
  private pre: PreflightResult | null = null
  private schemas: TableSchemas | null = null
  private repl: ReplicationStream | null = null
  /** Commits yielded but not yet acknowledged, oldest first: checkpoint → end LSN. */
  private readonly pendingCommits: { checkpoint: string; endLsn: bigint }[] = []
  private confirmedLsn = 0n
  private timers: NodeJS.Timeout[] = []
  private phase: SourceStatus['phase'] = null

  constructor(
    private readonly cfg: PostgresConfig,
    private readonly ctx: SourceContext,
  ) {
    this.slot = cfg.slot ?? defaultObjectName(ctx.pipeline)
    this.publication = cfg.publication ?? defaultObjectName(ctx.pipeline)
    this.where = redactUrl(cfg.url)
    this.clientConfig = {
      connectionString: cfg.url,
      options: SESSION_OPTIONS,
      application_name: `sluice:${ctx.pipeline}`,
    }
    this.log = ctx.log
  }

  private async connect(): Promise<pg.Client> {
    const c = new pg.Client(this.clientConfig)
    c.on('error', (err) => this.log.debug({ err }, 'postgres connection error'))
    try {
      await c.connect()
    } catch (err) {
      await c.end().catch(() => {})
      throw classifyPgError(err, this.where)
    }
    return c
  }

  async preflight(): Promise<void> {
    this.catalog ??= await this.connect()
    try {
      this.pre = await preflight(this.catalog, this.cfg, this.slot, this.publication)
    } catch (err) {
      throw classifyPgError(err, this.where)
    }
    this.schemas = new TableSchemas(this.pre.database, this.ctx.avro, this.cfg.key_columns)
  }

  start(from: string | null, signal: AbortSignal): AsyncIterable<ChangeBatch> {
    return this.run(from, signal)
  }

  private async *run(from: string | null, signal: AbortSignal): AsyncGenerator<ChangeBatch> {
    if (!this.pre || !this.catalog) await this.preflight()
    const catalog = this.catalog!
    const mode = snapshotMode(this.cfg.snapshot)
    const pos = from ? parsePosition(from) : null
    const snapshotDone = pos !== null && (pos.phase === PHASE_STREAM || pos.index === END)
    await this.ensurePublication(catalog)

    // A stored position needs the slot that produced it; a dropped or invalidated slot has
    // lost the changes since then (source.on_slot_lost decides: stop, or re-snapshot).
    const pre = this.pre!
    const slotUnusable = !pre.slotExists || pre.slotLost
    const snapshotAnyway = mode.shouldSnapshot(pos !== null, snapshotDone)
    const resnapshot =
      !snapshotAnyway && mode.shouldStream() && pos !== null && slotUnusable && this.slotLost(from!)
    let startLsn = 0n
    if (snapshotAnyway || resnapshot) {
      if (pre.slotExists) {
        // An unfinished snapshot (or no state at all, or an unusable slot): start over with a
        // fresh slot, so the snapshot and the stream meet at the new slot's consistent point.
        this.log.info({ slot: this.slot }, 'dropping replication slot to restart the snapshot')
        await this.query(catalog, 'SELECT pg_drop_replication_slot($1)', [this.slot])
      }
      this.repl = new ReplicationStream(this.clientConfig, this.log)
      await this.repl.connect().catch((err: unknown) => Promise.reject(classifyPgError(err, this.where)))
      const created = await this.createSlot(true)
      this.log.info(
        { slot: this.slot, consistentPoint: created.consistentPoint },
        'slot created; snapshot starting',
      )
      this.phase = 'snapshot'
      yield* this.snapshot(created.lsn, created.snapshotName!, signal)
      if (signal.aborted || !mode.shouldStream()) return
      startLsn = created.lsn
    } else {
      if (!mode.shouldStream()) return
      if (pre.slotLost) {
        // No stored position, so nothing is lost: replace the invalidated slot.
        this.log.warn(
          { slot: this.slot },
          'replication slot was invalidated by the server; creating it again',
        )
        await this.query(catalog, 'SELECT pg_drop_replication_slot($1)', [this.slot])
      }
      this.repl = new ReplicationStream(this.clientConfig, this.log)
      await this.repl.connect().catch((err: unknown) => Promise.reject(classifyPgError(err, this.where)))
      if (slotUnusable) {
        const created = await this.createSlot(false)
        this.log.info({ slot: this.slot, consistentPoint: created.consistentPoint }, 'slot created')
      }
    }
    this.phase = 'streaming'
    yield* this.stream(startLsn, from, signal)
  }

  /**
   * The slot cannot resume the stored position `from`: with `on_slot_lost: snapshot` log it
   * and answer true (re-snapshot), otherwise throw the distinct error naming the fix.
   */
  private slotLost(from: string): boolean {
    const invalidated = this.pre!.slotLost
    if (this.cfg.on_slot_lost === 'snapshot') {
      this.log.warn(
        { slot: this.slot, from, invalidated },
        `replication slot '${this.slot}' ${invalidated ? 'was invalidated by the server' : 'is missing'}, so the changes since the stored position cannot be streamed: taking a new snapshot of every captured table (source.on_slot_lost: snapshot)`,
      )
      return true
    }
    if (invalidated) {
      throw new PreconditionError(
        'PG_SLOT_INVALIDATED',
        `replication slot '${this.slot}' was invalidated by the server (wal_status = lost: it fell more than max_slot_wal_keep_size behind), so the changes since the stored position ${from} are gone from it. Set source.on_slot_lost: snapshot to take a new snapshot, or delete the pipeline's state file to start over; raise max_slot_wal_keep_size (or keep Sluice running) so it does not happen again`,
      )
    }
    throw new PreconditionError(
      'PG_SLOT_MISSING',
      `replication slot '${this.slot}' does not exist, but the stored position ${from} needs it: changes since then are lost to it. Set source.on_slot_lost: snapshot to take a new snapshot, or delete the pipeline's state file to start over`,
    )
  }

  /** Phase, and the slot's unconfirmed and retained WAL (null when the slot or server cannot tell). */
  async status(): Promise<SourceStatus> {
    const c = this.catalog
    let lagBytes: number | null = null
    let retainedBytes: number | null = null
    if (c) {
      try {
        const r = await c.query(
          `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag,
                  pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS retained
             FROM pg_replication_slots WHERE slot_name = $1`,
          [this.slot],
        )
        const row = r.rows[0] as { lag: number | null; retained: number | null } | undefined
        lagBytes = row?.lag ?? null
        retainedBytes = row?.retained ?? null
      } catch (err) {
        this.log.debug({ err }, 'slot status query failed')
      }
    }
    return { phase: this.phase, lagBytes, retainedBytes }
  }

  private async createSlot(
    exportSnapshot: boolean,
  ): Promise<{ lsn: bigint; consistentPoint: string; snapshotName: string | null }> {
    try {
      const res = await this.repl!.connection.query(
        `CREATE_REPLICATION_SLOT ${ident(this.slot)} LOGICAL pgoutput ${exportSnapshot ? 'EXPORT_SNAPSHOT' : 'NOEXPORT_SNAPSHOT'}`,
      )
      const row = res.rows[0] as { consistent_point: string; snapshot_name: string | null }
      return {
        lsn: parseLsn(row.consistent_point),
        consistentPoint: row.consistent_point,
        snapshotName: row.snapshot_name,
      }
    } catch (err) {
      throw classifyPgError(err, `replication slot '${this.slot}'`)
    }
  }

  private async query(c: pg.ClientBase, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    try {
      return await c.query(sql, params)
    } catch (err) {
      throw classifyPgError(err, this.where)
    }
  }

  /** Creates the publication for the configured tables, or adds tables missing from it. */
  private async ensurePublication(c: pg.Client): Promise<void> {
    const tables = this.pre!.tables
    const list = tables.map(quoteTable).join(', ')
    const exists = (
      await this.query(c, 'SELECT 1 FROM pg_publication WHERE pubname = $1', [this.publication])
    ).rowCount
    if (!exists) {
      await this.query(c, `CREATE PUBLICATION ${ident(this.publication)} FOR TABLE ${list}`)
      this.log.info({ publication: this.publication }, 'publication created')
      return
    }
    const have = new Set(
      (
        await this.query(c, 'SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1', [
          this.publication,
        ])
      ).rows.map((r: { schemaname: string; tablename: string }) => `${r.schemaname}.${r.tablename}`),
    )
    const missing = tables.filter((t) => !have.has(qualified(t)))
    if (missing.length === 0) return
    try {
      await c.query(
        `ALTER PUBLICATION ${ident(this.publication)} ADD TABLE ${missing.map(quoteTable).join(', ')}`,
      )
      this.log.info(
        { publication: this.publication, added: missing.map(qualified) },
        'tables added to publication',
      )
    } catch (err) {
      throw new PreconditionError(
        'PG_PUBLICATION_MISSING_TABLES',
        `publication '${this.publication}' lacks ${missing.map(qualified).join(', ')} and adding them failed (${(err as Error).message}): ask its owner to run ALTER PUBLICATION ${ident(this.publication)} ADD TABLE ${missing.map(quoteTable).join(', ')}`,
        { cause: err },
      )
    }
  }

  /**
   * Reads every table under the exported snapshot with COPY (text format, the same text
   * rendering pgoutput uses), as op `r` events. Positions: consistent point, phase 0, a
   * counter over all tables; the final checkpoint has index END, which marks the snapshot
   * complete once acknowledged.
   */
  private async *snapshot(
    cp: bigint,
    snapshotName: string,
    signal: AbortSignal,
  ): AsyncGenerator<ChangeBatch> {
    const client = await this.connect()
    const log = this.log.child({ phase: 'snapshot' })
    const startedMs = Date.now()
    const cpNumber = Number(cp)
    const prefix = positionPrefix(cp, PHASE_SNAPSHOT)
    let index = 0
    let held: { schema: TableSchema; row: Row; key: Row | null; failed: RowFailure | null } | null = null
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
      const position = withIndex(prefix, index++)
      return {
        op: 'r',
        table: h.schema,
        key: h.key,
        before: null,
        after: h.row,
        position,
        source: postgresSource(
          this.ctx.pipeline,
          h.schema.db,
          h.schema.schema,
          h.schema.table,
          startedMs,
          marker,
          null,
          cpNumber,
          position,
        ),
        transaction: null,
        ts_ms: Date.now(),
      }
    }
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      await client.query(`SET TRANSACTION SNAPSHOT '${snapshotName.replace(/'/g, "''")}'`)
      // A policy that would hide rows raises an error instead (preflight names the fix).
      await client.query('SET LOCAL row_security = off')
      const metas = await tableMeta(
        client,
        this.pre!.tables.map((t) => t.oid),
      )
      for (const t of this.pre!.tables) {
        const meta = metas.get(t.oid)
        if (!meta)
          throw new SourceError(
            'PG_TABLE_DROPPED',
            `table ${qualified(t)} was dropped before the snapshot read it`,
          )
        const schema = await this.schemas!.build(client, meta)
        const cols = schema.columns
        const keyIdx = schema.keyColumns.map((k) => cols.findIndex((c) => c.name === k))
        const estimate = Math.max(0, Math.round(meta.estimate))
        log.info({ table: qualified(meta), estimate }, 'snapshot of table started')
        let rows = 0
        let lastLog = Date.now()
        let lastProgress = 0
        const parser = new CopyTextParser()
        const stream = client.query(
          copyTo(
            `COPY (SELECT ${cols.map((c) => ident(c.name)).join(', ')} FROM ${quoteTable(meta)}) TO STDOUT`,
          ),
        )
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          bytes += chunk.length
          for (const values of parser.push(chunk)) {
            const row: Row = {}
            let failed: RowFailure | null = null
            try {
              for (let i = 0; i < cols.length; i++) {
                const v = values[i]
                const col = cols[i]!
                row[col.name] = v === null || v === undefined ? null : col.fromText(v)
              }
            } catch (err) {
              if (!this.ctx.rejectRows || !isRowError(err)) throw err
              failed = rowFailure(err, cols, values)
              anyRejected = true
            }
            let key: Row | null = null
            if (keyIdx.length > 0 && !failed) {
              key = {}
              for (const i of keyIdx) key[cols[i]!.name] = row[cols[i]!.name]
            }
            if (held) batch.push(event(held, 'true'))
            held = { schema, row, key, failed }
            rows++
            if (batch.length > 0 && (batch.length >= BATCH_EVENTS || bytes >= BATCH_BYTES)) {
              yield out({ events: batch, checkpoint: batch[batch.length - 1]!.position, bytes })
              batch = []
              bytes = 0
              if (signal.aborted) return
            }
          }
          const now = Date.now()
          if (now - lastProgress > 250) {
            lastProgress = now
            this.ctx.onSnapshotProgress?.({ table: qualified(meta), rows, estimate, done: false })
          }
          if (now - lastLog > 5000) {
            lastLog = now
            log.info({ table: qualified(meta), rows, estimate }, 'snapshot progress')
          }
        }
        parser.end()
        this.ctx.onSnapshotProgress?.({ table: qualified(meta), rows, estimate, done: true })
        log.info({ table: qualified(meta), rows }, 'snapshot of table done')
      }
      await client.query('COMMIT')
      if (held) batch.push(event(held, 'last'))
      yield out({ events: batch, checkpoint: makePosition(cp, PHASE_SNAPSHOT, END), bytes })
      log.info({ events: index, ms: Date.now() - startedMs }, 'snapshot done')
    } catch (err) {
      throw classifyPgError(err, this.where)
    } finally {
      await client.end().catch(() => {})
    }
  }

  /** Streams the slot from `startLsn` (0: the slot's confirmed position), skipping events at or before `from`. */
  private stream(startLsn: bigint, from: string | null, signal: AbortSignal): AsyncGenerator<ChangeBatch> {
    const reader = new StreamReader(this, from, this.log.child({ phase: 'streaming' }))
    return reader.run(startLsn, signal)
  }

  /** @internal used by StreamReader */
  get internals(): {
    cfg: PostgresConfig
    ctx: SourceContext
    slot: string
    publication: string
    repl: ReplicationStream
    catalog: pg.Client
    schemas: TableSchemas
    capturedOids: Set<number>
    pendingCommits: { checkpoint: string; endLsn: bigint }[]
    where: string
  } {
    return {
      cfg: this.cfg,
      ctx: this.ctx,
      slot: this.slot,
      publication: this.publication,
      repl: this.repl!,
      catalog: this.catalog!,
      schemas: this.schemas!,
      capturedOids: new Set(this.pre!.tables.map((t) => t.oid)),
      pendingCommits: this.pendingCommits,
      where: this.where,
    }
  }

  /** Confirms to Postgres the end LSN of every transaction whose checkpoint is acknowledged. */
  async acknowledge(position: string): Promise<void> {
    let lsn: bigint | null = null
    while (this.pendingCommits.length > 0 && this.pendingCommits[0]!.checkpoint <= position) {
      lsn = this.pendingCommits.shift()!.endLsn
    }
    if (lsn !== null) this.confirm(lsn)
  }

  /** @internal Records and sends a confirmed flush LSN (never backwards). */
  confirm(lsn: bigint): void {
    if (lsn <= this.confirmedLsn) return
    this.confirmedLsn = lsn
    this.repl?.sendStatus(lsn)
  }

  /** @internal */
  get confirmed(): bigint {
    return this.confirmedLsn
  }

  /** @internal */
  addTimer(t: NodeJS.Timeout): void {
    this.timers.push(t)
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    if (this.repl) {
      if (this.confirmedLsn > 0n) this.repl.sendStatus(this.confirmedLsn)
      await this.repl.end()
      this.repl = null
    }
    await this.catalog?.end().catch(() => {})
    this.catalog = null
  }

  /** Drops the slot and the publication of this pipeline (`sluice cleanup`). Returns what was dropped. */
  async cleanup(): Promise<string[]> {
    const c = await this.connect()
    const done: string[] = []
    try {
      const slot = await this.query(c, 'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [
        this.slot,
      ])
      if (slot.rowCount) {
        const pid = (slot.rows[0] as { active_pid: number | null }).active_pid
        if (pid !== null) {
          throw new PreconditionError(
            'PG_SLOT_ACTIVE',
            `replication slot '${this.slot}' is in use by server process ${pid}: stop the running pipeline first`,
          )
        }
        await this.query(c, 'SELECT pg_drop_replication_slot($1)', [this.slot])
        done.push(`dropped replication slot ${this.slot}`)
      }
      const pub = await this.query(c, 'SELECT 1 FROM pg_publication WHERE pubname = $1', [this.publication])
      if (pub.rowCount) {
        await this.query(c, `DROP PUBLICATION ${ident(this.publication)}`)
        done.push(`dropped publication ${this.publication}`)
      }
    } finally {
      await c.end().catch(() => {})
    }
    return done
  }
}

/**
 * The streaming half: decodes pgoutput messages as they arrive (synchronously, inside the
 * socket callback), turns them into events, and queues batches for the pipeline. The queue
 * is capped: when full, the socket is paused (status updates still go out on a timer, so
 * the server does not time the connection out). Work that needs a query (a Relation
 * message's catalog lookup, re-reading an unchanged TOAST value) blocks the reader: later
 * messages wait in a backlog, in order, and the socket is paused until it completes.
 */
class StreamReader {
  private readonly deps: PostgresSource['internals']
  private readonly relations = new Map<number, RelationState>()
  private tx: TxState | null = null
  private readonly decoder = new PgoutputDecoder(1)
  private readonly buf: StreamBuffer<PgoutputMessage>
  private toastSkipped = 0
  /** A row failed conversion and travels as a placeholder: batches are split from then on. */
  private anyRejected = false

  constructor(
    private readonly source: PostgresSource,
    private readonly from: string | null,
    private readonly log: Logger,
  ) {
    this.deps = source.internals
    const { repl } = this.deps
    this.buf = new StreamBuffer<PgoutputMessage>({
      batchEvents: BATCH_EVENTS,
      batchBytes: BATCH_BYTES,
      maxQueued: MAX_QUEUED_BATCHES,
      from,
      pause: () => repl.pause(),
      resume: () => repl.resume(),
      handle: (msg, lsn) => this.handle(msg, lsn),
    })
  }

  private src(): PostgresSource['internals'] {
    return this.deps
  }

  async *run(startLsn: bigint, signal: AbortSignal): AsyncGenerator<ChangeBatch> {
    const { repl, slot, publication, cfg, catalog } = this.src()
    const ended = repl.start(
      slot,
      startLsn,
      { proto_version: '1', publication_names: publication, messages: 'true' },
      {
        onData: (data, lsn) => this.onData(data, lsn),
        onKeepalive: (walEnd, reply) => this.onKeepalive(walEnd, reply),
      },
    )
    ended.then(
      () => {
        if (signal.aborted) return this.buf.end()
        // The server ended the stream on its own: reconnecting resumes where we were.
        this.buf.fail(
          new SourceError('PG_CONNECTION_LOST', `replication stream of slot '${slot}' ended unexpectedly`, {
            retriable: true,
          }),
        )
      },
      (err: unknown) => this.buf.fail(classifyPgError(err, `replication slot '${slot}'`)),
    )
    this.source.addTimer(
      setInterval(
        () => {
          if (repl.sinceLastStatus >= cfg.status_interval_ms) repl.sendStatus(this.source.confirmed)
        },
        Math.min(cfg.status_interval_ms, 1000),
      ),
    )
    if (cfg.heartbeat_interval_ms > 0) {
      this.source.addTimer(
        setInterval(() => {
          catalog
            .query(`SELECT pg_logical_emit_message(true, '${HEARTBEAT_PREFIX}', '')`)
            .catch((err: unknown) => this.log.warn({ err }, 'heartbeat failed'))
        }, cfg.heartbeat_interval_ms),
      )
    }
    this.log.info({ slot, from: this.from }, 'streaming started')
    try {
      for await (const b of this.buf.batches(signal)) yield this.anyRejected ? splitRejected(b) : b
    } finally {
      if (this.toastSkipped > 0)
        this.log.info(
          { skipped: this.toastSkipped },
          'updates skipped: row gone before its TOAST value could be read',
        )
    }
  }

  private onData(data: Buffer, lsn: number): void {
    let msg: PgoutputMessage
    try {
      msg = this.decoder.decode(data)
    } catch (err) {
      this.buf.fail(
        new SourceError('PG_DECODE_FAILED', `cannot decode a pgoutput message: ${(err as Error).message}`, {
          cause: err,
        }),
      )
      return
    }
    this.buf.push(msg, lsn)
  }

  private block(work: () => Promise<void>): void {
    this.buf.block(work)
  }

  private onKeepalive(walEnd: bigint, reply: boolean): void {
    // With nothing received-but-unacknowledged, everything up to the server's sent position
    // is delivered: confirming it lets the server recycle WAL on a database whose captured
    // tables are idle.
    const idle = this.tx === null && this.buf.idle && this.src().pendingCommits.length === 0
    if (idle && walEnd > this.source.confirmed) this.source.confirm(walEnd)
    else if (reply) this.src().repl.sendStatus(this.source.confirmed)
  }

  private emit(ev: ChangeEvent, bytes: number): void {
    this.buf.emit(ev, bytes)
  }

  private handle(msg: PgoutputMessage, lsn: number): void {
    switch (msg.tag) {
      case 'begin':
        this.tx = {
          xid: msg.xid,
          commitLsn: msg.finalLsn,
          commitMs: msg.commitTimeMs,
          prefix: positionPrefix(msg.finalLsn, PHASE_STREAM),
          txId: `${msg.xid}:${msg.finalLsn}`,
          index: 0,
          perTable: new Map(),
        }
        return
      case 'commit': {
        const checkpoint = makePosition(msg.commitLsn, PHASE_STREAM, END)
        const tx = this.tx
        this.tx = null
        if (this.from !== null && checkpoint <= this.from) {
          // Already delivered before the restart: only release it upstream.
          this.source.confirm(msg.endLsn)
          return
        }
        this.src().pendingCommits.push({ checkpoint, endLsn: msg.endLsn })
        this.buf.checkpoint(
          checkpoint,
          tx && tx.index > 0
            ? summarizeTransaction(
                tx.txId,
                tx.commitMs,
                tx.index,
                tx.perTable,
                (t) => `${t.schema}.${t.table}`,
              )
            : undefined,
        )
        return
      }
      case 'relation':
        this.onRelation(msg)
        return
      case 'insert': {
        const rel = this.relation(msg.relationId)
        if (!rel.schema) return
        this.orReject('c', rel, null, msg.tuple, msg.bytes, lsn, () => {
          const after = this.row(rel.schema!, msg.tuple)
          this.emit(this.event('c', rel, null, after, this.keyOf(rel, msg.tuple, after), lsn), msg.bytes)
        })
        return
      }
      case 'update': {
        const rel = this.relation(msg.relationId)
        if (!rel.schema) return
        const oldTuple = msg.old ?? msg.key
        if (msg.tuple.includes(UNCHANGED_TOAST)) {
          if (msg.old && !msg.old.includes(UNCHANGED_TOAST)) {
            // REPLICA IDENTITY FULL: the old row holds the unchanged value.
            const filled = msg.tuple.map((v, i) => (v === UNCHANGED_TOAST ? msg.old![i]! : v))
            this.orReject('u', rel, msg.old, filled, msg.bytes, lsn, () =>
              this.emitUpdate(rel, msg.old, filled, oldTuple, msg.bytes, lsn),
            )
          } else {
            // Later messages (including this transaction's commit) wait in the backlog, so
            // this.tx is still this update's transaction when the work completes.
            this.block(async () => {
              const filled = await this.reselect(rel, msg.tuple)
              if (filled)
                this.orReject('u', rel, msg.old, filled, msg.bytes, lsn, () =>
                  this.emitUpdate(rel, msg.old, filled, oldTuple, msg.bytes, lsn),
                )
              else this.toastSkipped++
            })
          }
          return
        }
        this.orReject('u', rel, msg.old, msg.tuple, msg.bytes, lsn, () =>
          this.emitUpdate(rel, msg.old, msg.tuple, oldTuple, msg.bytes, lsn),
        )
        return
      }
      case 'delete': {
        const rel = this.relation(msg.relationId)
        if (!rel.schema) return
        const oldTuple = (msg.old ?? msg.key)!
        this.orReject('d', rel, oldTuple, null, msg.bytes, lsn, () => {
          const before = msg.old ? this.row(rel.schema!, msg.old) : null
          this.emit(this.event('d', rel, before, null, this.keyOf(rel, oldTuple, null), lsn), msg.bytes)
        })
        return
      }
      case 'truncate':
        for (const id of msg.relationIds) {
          const rel = this.relation(id)
          if (rel.schema) this.emit(this.event('t', rel, null, null, null, lsn), 0)
        }
        return
      default:
        // origin, type (types are resolved from the catalog), logical messages (heartbeats
        // are only there to make the server send a transaction), stream messages (not
        // requested: proto_version 1).
        return
    }
  }

  private relation(id: number): RelationState {
    const r = this.relations.get(id)
    if (!r)
      throw new SourceError(
        'PG_UNKNOWN_RELATION',
        `pgoutput sent a change for relation ${id} before describing it`,
      )
    return r
  }

  private onRelation(msg: RelationMessage): void {
    const { capturedOids, catalog, schemas } = this.src()
    if (!capturedOids.has(msg.relationId)) {
      this.relations.set(msg.relationId, { schema: null, meta: null, keyIndexes: [] })
      return
    }
    this.block(async () => {
      const meta = (await tableMeta(catalog, [msg.relationId])).get(msg.relationId)
      if (!meta) {
        throw new SourceError(
          'PG_TABLE_DROPPED',
          `table ${msg.schema}.${msg.name} (oid ${msg.relationId}) no longer exists, but the stream still has changes for it`,
        )
      }
      const schema = await schemas.build(catalog, meta, msg.columns)
      const keyIndexes = schema.keyColumns.map((k) => schema.columns.findIndex((c) => c.name === k))
      this.relations.set(msg.relationId, { schema, meta, keyIndexes })
    })
  }

  /**
   * Runs `convert` (which converts a row and emits its events); when a value of the row
   * cannot be converted (EncodeError) and the pipeline takes rejected rows, emits a
   * placeholder carrying the raw tuple instead (see pipeline/dead-letter.ts).
   */
  private orReject(
    op: Op,
    rel: RelationState,
    before: TupleValues | null,
    after: TupleValues | null,
    bytes: number,
    lsn: number,
    convert: () => void,
  ): void {
    try {
      convert()
    } catch (err) {
      if (!this.src().ctx.rejectRows || !isRowError(err)) throw err
      const schema = rel.schema!
      const failedAfter = after ? rowFailure(err, schema.columns, tupleText(after)) : null
      const failedBefore = before ? rowFailure(err, schema.columns, tupleText(before)) : null
      const column = failedAfter?.column ?? failedBefore?.column ?? null
      const ev = this.event(op, rel, null, null, null, lsn)
      this.anyRejected = true
      this.emit(
        rejectedEvent(ev, {
          position: ev.position,
          table: `${schema.schema}.${schema.table}`,
          op,
          error: err,
          column,
          before: failedBefore?.raw ?? null,
          after: failedAfter?.raw ?? null,
        }),
        bytes,
      )
    }
  }

  private row(schema: TableSchema, tuple: TupleValues): Row {
    const cols = schema.columns
    const row: Row = {}
    for (let i = 0; i < cols.length; i++) {
      const col = cols[i]!
      const v = tuple[i]
      if (v === null || v === undefined) row[col.name] = null
      else if (typeof v === 'string') row[col.name] = col.fromText(v)
      else if (v === UNCHANGED_TOAST) {
        throw new SourceError(
          'PG_UNCHANGED_TOAST',
          `unchanged TOAST value of ${schema.schema}.${schema.table}.${col.name} was not resolved`,
        )
      } else row[col.name] = col.fromText(v.toString('utf8'))
    }
    return row
  }

  /** The key record from a row image (text tuple); `converted` is the already-built row when there is one. */
  private keyOf(rel: RelationState, tuple: TupleValues, converted: Row | null): Row | null {
    if (rel.keyIndexes.length === 0) return null
    const cols = rel.schema!.columns
    const key: Row = {}
    for (const i of rel.keyIndexes) {
      const col = cols[i]!
      if (converted) key[col.name] = converted[col.name]
      else {
        const v = tuple[i]
        key[col.name] = typeof v === 'string' ? col.fromText(v) : null
      }
    }
    return key
  }

  private emitUpdate(
    rel: RelationState,
    old: TupleValues | null,
    tuple: TupleValues,
    oldKeyTuple: TupleValues | null,
    bytes: number,
    lsn: number,
  ): void {
    const schema = rel.schema!
    const after = this.row(schema, tuple)
    const key = this.keyOf(rel, tuple, after)
    const before = old ? this.row(schema, old) : null
    if (oldKeyTuple && rel.keyIndexes.some((i) => oldKeyTuple[i] !== tuple[i])) {
      // The key changed: a delete of the old key, then a create of the new one (Debezium).
      this.emit(this.event('d', rel, before, null, this.keyOf(rel, oldKeyTuple, null), lsn), bytes)
      this.emit(this.event('c', rel, null, after, key, lsn), 0)
      return
    }
    this.emit(this.event('u', rel, before, after, key, lsn), bytes)
  }

  /** Fills unchanged TOAST columns by reading the row by key now; null when the row is gone. */
  private async reselect(rel: RelationState, tuple: TupleValues): Promise<TupleValues | null> {
    const schema = rel.schema!
    const { catalog } = this.src()
    const missing = tuple.flatMap((v, i) => (v === UNCHANGED_TOAST ? [i] : []))
    const cols = schema.columns
    const where = rel.keyIndexes.map((ki, n) => `${ident(cols[ki]!.name)} = $${n + 1}`).join(' AND ')
    const params = rel.keyIndexes.map((ki) => tuple[ki])
    const sql = `SELECT ${missing.map((i) => `${ident(cols[i]!.name)}::text AS c${i}`).join(', ')} FROM ${quoteTable(rel.meta!)} WHERE ${where}`
    const res = await catalog.query(sql, params)
    const row = res.rows[0] as Record<string, string | null> | undefined
    if (!row) return null
    return tuple.map((v, i) => (v === UNCHANGED_TOAST ? (row[`c${i}`] ?? null) : v))
  }

  private event(
    op: Op,
    rel: RelationState,
    before: Row | null,
    after: Row | null,
    key: Row | null,
    lsn: number,
  ): ChangeEvent {
    const tx = this.tx
    if (!tx) throw new SourceError('PG_PROTOCOL', 'pgoutput sent a change outside a transaction')
    const schema = rel.schema!
    const position = withIndex(tx.prefix, tx.index++)
    const perTable = (tx.perTable.get(schema) ?? 0) + 1
    tx.perTable.set(schema, perTable)
    return {
      op,
      table: schema,
      key,
      before,
      after,
      position,
      source: postgresSource(
        this.src().ctx.pipeline,
        schema.db,
        schema.schema,
        schema.table,
        tx.commitMs,
        'false',
        tx.xid,
        lsn,
        position,
      ),
      transaction: { id: tx.txId, total_order: tx.index, data_collection_order: perTable },
      ts_ms: Date.now(),
    }
  }
}

function rowFailure(
  error: SluiceError,
  cols: TableSchema['columns'],
  values: readonly (string | null | undefined)[],
): RowFailure {
  const names = cols.map((c) => c.name)
  return failureOf(error, names, values, (i, v) => cols[i]!.fromText(v as string))
}

/** A pgoutput tuple as text values (unchanged TOAST values unknown: null). */
function tupleText(t: TupleValues): (string | null)[] {
  return t.map((v) =>
    v === null || v === undefined || v === UNCHANGED_TOAST
      ? null
      : typeof v === 'string'
        ? v
        : v.toString('utf8'),
  )
}

/** Creates a Postgres source (registry entry's create()). */
export function createPostgresSource(cfg: PostgresConfig, ctx: SourceContext): PostgresSource {
  return new PostgresSource(cfg, ctx)
}
