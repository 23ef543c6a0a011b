import type { Logger } from 'pino'
import { documentRenderer } from '../sinks/document.js'
import { EncodeError, SluiceError } from './errors.js'
import type { ChangeBatch, ChangeEvent, Op, Row } from './event.js'
import type { TableSchema } from './schema.js'
import {
  createDeadLetterWriter,
  type DeadLetterConfig,
  type DeadLetterWriter,
} from './dead-letter-writers.js'

export type { DeadLetterConfig, DeadLetterWriter } from './dead-letter-writers.js'

/**
 * What a pipeline does with an event that fails permanently on its own (a value the source
 * cannot convert, a document the sink refuses): `halt` fails the pipeline with the error and
 * never moves the position past the event; `dead_letter` writes it to the dead-letter
 * destination, durably, and goes on; `skip` counts it and goes on. Retriable errors never
 * reach the policy.
 */
export type OnError = 'halt' | 'dead_letter' | 'skip'

/** A row's column values as the source read them, as text (bytes: base64); null for SQL NULL. */
export type RawRow = Record<string, string | null>

/**
 * A row the source could not convert (an EncodeError on one column). It keeps its position,
 * so the batch's positions stay dense and a restart skips it like any delivered event once
 * the policy has been applied.
 */
export interface RejectedRow {
  readonly position: string
  /** `schema.table` (MySQL: `db.table`). */
  readonly table: string
  readonly op: Op
  readonly error: SluiceError
  /** The column whose value failed, when known. */
  readonly column: string | null
  readonly before: RawRow | null
  readonly after: RawRow | null
}

/** One dead-letter record (a JSON object: one line of the file, one Kafka message, one stream entry). */
export interface DeadLetterRecord {
  readonly pipeline: string
  /** `source`, or the sink that refused the event (`sinks[<i>].<type>`). */
  readonly origin: string
  readonly error: { readonly code: string; readonly message: string }
  readonly position: string
  readonly table: string
  readonly op: Op
  /** Source-side: the column whose value could not be converted. */
  readonly column?: string | null
  /** Source-side: the raw column values (text; bytes base64). Sink-side: the rendered documents. */
  readonly key?: Record<string, unknown> | null
  readonly before: Record<string, unknown> | null
  readonly after: Record<string, unknown> | null
  /**
   * Source-side only, when the pipeline masks columns: the raw row was left out (it failed
   * before any transform ran, so its masked columns would be in clear); `before`/`after` are null.
   */
  readonly values_withheld?: string
  /** When the record was written (ISO 8601, UTC). */
  readonly timestamp: string
}

/** Counters of rejected events (admin/metrics.ts implements it). */
export interface RejectMetrics {
  /** One event was rejected and then skipped or dead-lettered. */
  eventRejected(pipeline: string, origin: string, code: string, outcome: 'skipped' | 'dead_lettered'): void
}

// ---------------------------------------------------------------------------------------------
// Source side: rejected rows travel in the batch.

const REJECTED = Symbol('sluice.rejected')

type Marked = ChangeEvent & { readonly [REJECTED]?: RejectedRow }

/**
 * A placeholder event for a row that failed conversion: `ev` is the event the source would
 * have emitted (position, table, op; row images null), `row` what went wrong. It travels
 * through the source's own batching (so its position is ordered and filtered like any
 * other) and splitRejected() takes it out before the batch leaves the source.
 */
export function rejectedEvent(ev: ChangeEvent, row: RejectedRow): ChangeEvent {
  return { ...ev, key: null, before: null, after: null, [REJECTED]: row } as Marked
}

/**
 * The batch with placeholder events moved to `rejected`. Sources call it on each batch
 * they yield while they have emitted placeholders (a cheap no-op scan otherwise).
 */
export function splitRejected(batch: ChangeBatch): ChangeBatch {
  let rejected: RejectedRow[] | null = null
  for (const ev of batch.events as readonly Marked[]) {
    const r = ev[REJECTED]
    if (r) (rejected ??= []).push(r)
  }
  if (!rejected) return batch
  const events = batch.events.filter((ev) => !(ev as Marked)[REJECTED])
  return { ...batch, events, rejected: [...(batch.rejected ?? []), ...rejected] }
}

/** A value as the source read it, as text: strings as they are, bytes base64, null for NULL. */
export function rawText(v: unknown): string | null {
  if (v === null || v === undefined || typeof v === 'symbol') return null
  if (typeof v === 'string') return v
  if (Buffer.isBuffer(v)) return v.toString('base64')
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v)
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))
  } catch {
    return String(v)
  }
}

/** Column names with their raw values (in column order). */
export function rawRow(names: readonly string[], values: readonly unknown[]): RawRow {
  const out: RawRow = {}
  for (let i = 0; i < names.length; i++) out[names[i]!] = rawText(values[i])
  return out
}

/**
 * Converts a row column by column to find the first column whose converter throws an
 * EncodeError (only on the error path: the normal path converts without it).
 */
export function failingColumn(
  names: readonly string[],
  values: readonly unknown[],
  convert: (i: number, v: unknown) => unknown,
): string | null {
  for (let i = 0; i < names.length; i++) {
    const v = values[i]
    if (v === null || v === undefined) continue
    try {
      convert(i, v)
    } catch (err) {
      if (isRowError(err)) return names[i]!
    }
  }
  return null
}

/** A row that failed conversion: the error, the failing column and the raw values. */
export interface RowFailure {
  readonly error: SluiceError
  readonly column: string | null
  readonly raw: RawRow
}

/** The RowFailure of a row whose conversion threw `error` (finds the failing column). */
export function rowFailure(
  error: SluiceError,
  names: readonly string[],
  values: readonly unknown[],
  convert: (i: number, v: unknown) => unknown,
): RowFailure {
  return { error, column: failingColumn(names, values, convert), raw: rawRow(names, values) }
}

/** A snapshot read (`r`) event standing for a row that failed conversion. */
export function rejectedRead(ev: ChangeEvent, failed: RowFailure): ChangeEvent {
  return rejectedEvent(ev, {
    position: ev.position,
    table: `${ev.table.schema}.${ev.table.table}`,
    op: 'r',
    error: failed.error,
    column: failed.column,
    before: null,
    after: failed.raw,
  })
}

/** Whether a conversion error is one row's own problem (permanent, an EncodeError) rather than the pipeline's. */
export function isRowError(err: unknown): err is SluiceError {
  return err instanceof EncodeError && !err.retriable
}

// ---------------------------------------------------------------------------------------------
// The policy.

/** Settings of a RejectPolicy. */
export interface RejectPolicyOptions {
  readonly pipeline: string
  readonly onError: OnError
  /** Required when onError is `dead_letter` (config validation enforces it). */
  readonly deadLetter?: DeadLetterConfig
  readonly log: Logger
  readonly metrics?: Partial<RejectMetrics>
  /**
   * Why source-side records must not carry the raw row (e.g. the pipeline has `mask`
   * transforms, which never ran on a row that failed conversion); unset: they carry it.
   */
  readonly withholdSourceValues?: string
  /** A writer to use instead of the one `deadLetter` describes (tests). */
  readonly writer?: DeadLetterWriter
}

/**
 * Applies a pipeline's `on_error` to rejected events, from the source (rows that failed
 * conversion, applied by the runner before their batch goes to the sinks) and from the
 * sinks (SinkContext.reject, awaited by the sink before its write() resolves). Either way
 * the policy is applied, durably for dead letters, before the position can move past the
 * event. Dead-letter writes are applied one after the other.
 */
export class RejectPolicy {
  /** Events skipped and dead-lettered since open (for status and tests). */
  readonly stats = { skipped: 0, deadLettered: 0 }
  private readonly writer: DeadLetterWriter | null
  private tail: Promise<void> = Promise.resolve()
  private opened = false

  constructor(private readonly opts: RejectPolicyOptions) {
    this.writer =
      opts.onError !== 'dead_letter'
        ? null
        : (opts.writer ?? createDeadLetterWriter(opts.deadLetter!, opts.pipeline, opts.log))
  }

  get onError(): OnError {
    return this.opts.onError
  }

  /** Connects the dead-letter destination (a no-op unless on_error is dead_letter). */
  async open(): Promise<void> {
    if (!this.writer || this.opened) return
    await this.writer.open()
    this.opened = true
  }

  /** Waits for pending dead-letter writes and releases the destination. */
  async close(): Promise<void> {
    await this.tail.catch(() => undefined)
    if (this.writer && this.opened) {
      this.opened = false
      await this.writer.close()
    }
  }

  /**
   * Source-side rejections of one batch. Resolves once the policy is applied (dead letters
   * durable); rejects with the first row's own error under `halt`.
   */
  async rejectRows(rows: readonly RejectedRow[]): Promise<void> {
    if (rows.length === 0) return
    for (const r of rows) this.warn('source', r.error.code, r.table, r.position)
    if (this.opts.onError === 'halt') throw rows[0]!.error
    if (this.opts.onError === 'skip') {
      for (const r of rows) this.count('source', r.error.code, 'skipped')
      return
    }
    const now = new Date().toISOString()
    const withheld = this.opts.withholdSourceValues
    const records = rows.map((r): DeadLetterRecord => ({
      pipeline: this.opts.pipeline,
      origin: 'source',
      error: { code: r.error.code, message: r.error.message },
      position: r.position,
      table: r.table,
      op: r.op,
      column: r.column,
      before: withheld === undefined ? r.before : null,
      after: withheld === undefined ? r.after : null,
      ...(withheld !== undefined && { values_withheld: withheld }),
      timestamp: now,
    }))
    await this.write(records)
    for (const r of rows) this.count('source', r.error.code, 'dead_lettered')
  }

  /**
   * A sink refuses one event for good (the API behind SinkContext.reject). Resolves once the
   * policy is applied; rejects with `error` under `halt`, or when the error is retriable or
   * not a SluiceError (those are never the policy's to absorb).
   */
  async rejectEvent(ev: ChangeEvent, error: unknown, origin: string): Promise<void> {
    if (!(error instanceof SluiceError) || error.retriable) throw error
    const table = `${ev.table.schema}.${ev.table.table}`
    this.warn(origin, error.code, table, ev.position)
    if (this.opts.onError === 'halt') throw error
    if (this.opts.onError === 'skip') {
      this.count(origin, error.code, 'skipped')
      return
    }
    const render = documentRenderer(ev.table)
    await this.write([
      {
        pipeline: this.opts.pipeline,
        origin,
        error: { code: error.code, message: error.message },
        position: ev.position,
        table,
        op: ev.op,
        key: ev.key === null ? null : renderKey(ev.table, ev.key),
        before: ev.before === null ? null : render(ev.before),
        after: ev.after === null ? null : render(ev.after),
        timestamp: new Date().toISOString(),
      },
    ])
    this.count(origin, error.code, 'dead_lettered')
  }

  private write(records: readonly DeadLetterRecord[]): Promise<void> {
    const writer = this.writer!
    const run = this.tail.then(async () => {
      if (!this.opened) await this.open()
      await writer.write(records)
    })
    this.tail = run.catch(() => undefined)
    return run
  }

  private warn(origin: string, code: string, table: string, position: string): void {
    // Values never go to the log: they are user data.
    this.opts.log.warn(
      { origin, code, table, position, on_error: this.opts.onError },
      `event rejected (${code}) at ${table} position ${position}: on_error ${this.opts.onError}`,
    )
  }

  private count(origin: string, code: string, outcome: 'skipped' | 'dead_lettered'): void {
    if (outcome === 'skipped') this.stats.skipped++
    else this.stats.deadLettered++
    this.opts.metrics?.eventRejected?.(this.opts.pipeline, origin, code, outcome)
  }
}

/** A key record rendered like a document, with the key columns only. */
function renderKey(table: TableSchema, key: Row): Record<string, unknown> {
  const doc = documentRenderer(table)(key)
  const out: Record<string, unknown> = {}
  for (const name of table.keyColumns) out[name] = doc[name]
  return out
}
