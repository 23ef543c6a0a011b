import type { Logger } from 'pino'
import { ConfigError, PreconditionError, SinkError, SluiceError } from '../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent, Row } from '../../pipeline/event.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { Sink, SinkContext } from '../../pipeline/sink.js'
import { documentRenderer, keyString } from '../document.js'
import { convertError, createSearchClient, type BulkItemResult, type SearchClient } from './client.js'
import type { ElasticsearchConfig } from './config.js'
import { indexNamer, INDEX_VARIABLES, unknownIndexVariables } from './index-name.js'
import { tableMappings } from './mapping.js'
import { readClient, type ReadClient } from './read-client.js'
import { sweepOlderThan } from './sweep.js'
import { versionOf, type VersionOf } from './version.js'

/** Counters of an Elasticsearch sink since open (for tests, metrics and the benchmark). */
export interface ElasticsearchSinkStats {
  /** Documents indexed (created or replaced). */
  indexed: number
  /** Deletes applied (including deletes of documents that were already absent). */
  deleted: number
  /** Items refused with 409 because the document already holds a newer version: a replay. */
  stale: number
  /** Events folded into a later event of the same document in the same batch (not sent). */
  coalesced: number
  /** Item retries (429, 5xx, network). */
  retried: number
  /** Documents refused with 400 and skipped (`on_mapping_error: skip`). */
  skipped: number
  /** Documents refused with 400 and handed to the pipeline's on_error (skipped or dead-lettered). */
  rejected: number
  /** Truncates ignored (`on_truncate: ignore`). */
  truncatesIgnored: number
  bulkRequests: number
}

/** Optional collaborators, injectable in tests. */
export interface ElasticsearchSinkDeps {
  readonly client?: SearchClient
  readonly sleep?: (ms: number) => Promise<void>
  /** Uniform in [0, 1), for retry jitter. */
  readonly random?: () => number
}

/** One bulk action: its NDJSON lines (action line, plus the source line for `index`). */
interface Action {
  readonly op: 'index' | 'delete'
  readonly index: string
  readonly id: string
  readonly lines: string
  /** The event the action comes from (handed to the pipeline's on_error when refused). */
  readonly ev: ChangeEvent
}

/** Length of `<commit lsn 16 hex>.<phase>` in a Postgres position. */
const PG_TX_PREFIX = 18
/** Length of `<file seq 10>.<offset 16>.` in a MySQL position. */
const MYSQL_TX_PREFIX = 28

const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The key columns' values of a row. */
/** The sort key of a snapshot's final checkpoint: phase 0, index END. */
const SNAPSHOT_END = /\.0\.999999999999$/

function keyOfRow(table: TableSchema, row: Row): Row {
  const key: Row = {}
  for (const name of table.keyColumns) key[name] = row[name]
  return key
}

/**
 * Indexes change events as documents: one document per primary key, id
 * `keyString(table, key)`, source `toDocument(table, after)`; deletes delete. Every action
 * carries `version_type=external_gte` and the version of its position (see version.ts),
 * so an older event can never overwrite a newer document: its 409 is counted as stale.
 *
 * Order: write() calls are applied one after the other. Within a batch, events of one
 * document are folded into the last one (its version is the highest, so the result is
 * the same), so every document appears at most once per batch and the batch's bulk
 * requests, and the retries of their failed items, cannot reorder one document's
 * changes. A batch resolves only when every item is acknowledged, stale, (with the
 * deprecated `on_mapping_error: skip`) deliberately skipped, or, refused with 400, handed to
 * the pipeline's on_error (SinkContext.reject) and settled by it.
 */
export class ElasticsearchSink implements Sink {
  readonly delivery = 'idempotent' as const
  readonly stats: ElasticsearchSinkStats = {
    indexed: 0,
    deleted: 0,
    stale: 0,
    coalesced: 0,
    retried: 0,
    skipped: 0,
    rejected: 0,
    truncatesIgnored: 0,
    bulkRequests: 0,
  }
  private readonly client: SearchClient
  private readonly log: Logger
  private readonly reject: SinkContext['reject']
  private readonly sleep: (ms: number) => Promise<void>
  private readonly random: () => number
  private readonly prefix: string
  /** Index namers by template text: the sink's `index` and every `route.index` seen. */
  private readonly namers = new Map<string, (table: TableSchema) => string>()
  private readonly ensured = new Set<string>()
  /** `{"_index":"<index>",` per index, the start of every action line. */
  private readonly heads = new Map<string, string>()
  private tail: Promise<void> = Promise.resolve()
  private failure: unknown = undefined
  private versionFn: VersionOf | null = null
  /** Indices that snapshot rows (`op: r`) went to since the last snapshot end. */
  private readonly snapshotIndices = new Set<string>()
  private reader: ReadClient | null = null
  private lastTx = ''
  private lastVersion = 0n

  constructor(
    private readonly config: ElasticsearchConfig,
    ctx: SinkContext,
    deps: ElasticsearchSinkDeps = {},
  ) {
    this.client = deps.client ?? createSearchClient(config)
    this.log = ctx.log.child({ component: 'sink', sink: 'elasticsearch' })
    this.reject = ctx.reject
    this.sleep = deps.sleep ?? sleepMs
    this.random = deps.random ?? Math.random
    this.prefix = ctx.avro.prefix
    this.namers.set(config.index, indexNamer(config.index, this.prefix))
  }

  async open(): Promise<void> {
    let info
    try {
      info = await this.client.info()
    } catch (err) {
      if (err instanceof SluiceError && err.code === 'ES_UNREACHABLE') {
        throw new PreconditionError('ES_UNREACHABLE', err.message, { cause: err, retriable: true })
      }
      throw err
    }
    if (info.product !== this.config.flavor) {
      throw new PreconditionError(
        'ES_WRONG_FLAVOR',
        `the search server at the sink url is ${info.product} ${info.version}, but the sink has ` +
          `flavor: ${this.config.flavor}; set flavor: ${info.product}`,
      )
    }
    this.log.info({ flavor: info.product, version: info.version }, 'search sink connected')
    if (this.config.on_mapping_error !== undefined)
      this.log.warn(
        { on_mapping_error: this.config.on_mapping_error },
        "on_mapping_error is deprecated: it overrides the pipeline's on_error for this sink; remove it and " +
          'set on_error (halt, dead_letter or skip) on the pipeline',
      )
  }

  write(batch: ChangeBatch): Promise<void> {
    const run = this.tail.then(() => {
      if (this.failure !== undefined) throw this.failure
      return this.apply(batch)
    })
    this.tail = run.catch((err: unknown) => {
      this.failure ??= err
    })
    return run
  }

  async flush(): Promise<void> {
    await this.tail
    if (this.failure !== undefined) throw this.failure
  }

  async close(): Promise<void> {
    await this.tail
    await this.client.close()
    await this.reader?.close().catch(() => undefined)
  }

  /**
   * The external version of a position, memoised per transaction: the events of one
   * transaction share their position's first `txPrefix` characters (Postgres `<lsn>.<phase>`,
   * MySQL `<seq>.<offset>`) and their version.
   */
  private version(ev: ChangeEvent): bigint {
    const p = ev.position
    if (this.lastTx !== '' && p.startsWith(this.lastTx)) return this.lastVersion
    const connector = ev.table.connector
    this.versionFn ??= versionOf(connector)
    this.lastVersion = this.versionFn(p)
    this.lastTx = p.slice(0, connector === 'postgresql' ? PG_TX_PREFIX : MYSQL_TX_PREFIX)
    return this.lastVersion
  }

  /**
   * The index of an event: from its `route.index` (the route transform) when it has one,
   * else from the sink's `index`; both are templates with the same variables and rules.
   */
  private indexOf(ev: ChangeEvent): string {
    const template = ev.route?.index ?? this.config.index
    let namer = this.namers.get(template)
    if (namer === undefined) {
      // Only a route's template can get here: the sink's own was checked at validation.
      const unknown = unknownIndexVariables(template)
      if (unknown.length > 0) {
        throw new ConfigError(
          'TRANSFORM_ROUTE_TEMPLATE',
          `the route transform's index '${template}' (table ${ev.table.schema}.${ev.table.table}) uses ` +
            `unknown variable(s) ${unknown.map((v) => '${' + v + '}').join(', ')}; the elasticsearch sink ` +
            `knows ${INDEX_VARIABLES.map((v) => '${' + v + '}').join(', ')}: fix the route's index`,
        )
      }
      namer = indexNamer(template, this.prefix)
      this.namers.set(template, namer)
    }
    return namer(ev.table)
  }

  private noKey(table: TableSchema): SinkError {
    return new SinkError(
      'ES_NO_PRIMARY_KEY',
      `table ${table.schema}.${table.table} has no primary key, so its rows have no document id for the ` +
        'search sink; add a primary key to the table, or leave the table out of this pipeline',
    )
  }

  private async ensureIndex(index: string, table: TableSchema): Promise<void> {
    if (await this.client.indexExists(index)) return
    const created = await this.client.createIndex(index, tableMappings(table))
    if (created) this.log.info({ index }, 'index created')
  }

  /** The batch's actions, one per document (the last event of each wins; see the class comment). */
  private async actions(batch: ChangeBatch): Promise<Action[]> {
    const out: (Action | undefined)[] = []
    const slot = new Map<string, number>()
    const push = (a: Action): void => {
      const k = `${a.index}\u0000${a.id}`
      const prev = slot.get(k)
      if (prev !== undefined) {
        out[prev] = undefined
        this.stats.coalesced += 1
      }
      slot.set(k, out.length)
      out.push(a)
    }
    for (const ev of batch.events) {
      const table = ev.table
      if (ev.op === 't') {
        if (this.config.on_truncate === 'ignore') {
          this.stats.truncatesIgnored += 1
          continue
        }
        throw new SinkError(
          'ES_TRUNCATE',
          `table ${table.schema}.${table.table} was truncated; the search sink cannot apply a truncate: ` +
            `empty the index '${this.indexOf(ev)}' by hand and restart, or set on_truncate: ignore`,
        )
      }
      if (table.keyColumns.length === 0 || ev.key === null) throw this.noKey(table)
      const index = this.indexOf(ev)
      if (ev.op === 'r') this.snapshotIndices.add(index)
      if (this.config.create_index && !this.ensured.has(index)) {
        await this.ensureIndex(index, table)
        this.ensured.add(index)
      }
      const id = keyString(table, ev.key)
      const meta = `"version":${this.version(ev)},"version_type":"external_gte"}}\n`
      let head = this.heads.get(index)
      if (head === undefined) {
        head = `{"_index":${JSON.stringify(index)},`
        this.heads.set(index, head)
      }
      const deleteOf = (docId: string): Action => ({
        op: 'delete',
        index,
        ev,
        id: docId,
        lines: `{"delete":${head}"_id":${JSON.stringify(docId)},${meta}`,
      })
      if (ev.op === 'd') {
        push(deleteOf(id))
        continue
      }
      if (ev.after === null) {
        throw new SinkError(
          'ES_NO_ROW_IMAGE',
          `a '${ev.op}' event of table ${table.schema}.${table.table} at position ${ev.position} has no row image`,
        )
      }
      if (ev.op === 'u' && ev.before !== null && table.keyColumns.every((k) => ev.before![k] !== undefined)) {
        // An update that changed the key: the document under the old key must go.
        const oldId = keyString(table, keyOfRow(table, ev.before))
        if (oldId !== id) push(deleteOf(oldId))
      }
      const doc = JSON.stringify(documentRenderer(table)(ev.after))
      push({
        op: 'index',
        index,
        ev,
        id,
        lines: `{"index":${head}"_id":${JSON.stringify(id)},${meta}${doc}\n`,
      })
    }
    return out.filter((a): a is Action => a !== undefined)
  }

  private async apply(batch: ChangeBatch): Promise<void> {
    await this.applyEvents(batch)
    if (SNAPSHOT_END.test(batch.checkpoint.split(';')[0]!)) await this.sweep(batch.checkpoint)
  }

  /**
   * The snapshot whose end is `checkpoint` is complete: documents of the indices it wrote
   * that are older than it were not read by it, so their rows are gone (see sweep.ts).
   */
  private async sweep(checkpoint: string): Promise<void> {
    const indices = [...this.snapshotIndices].sort()
    this.snapshotIndices.clear()
    if (indices.length === 0 || !this.versionFn) return
    const version = this.versionFn(checkpoint)
    this.reader ??= readClient(this.config).client
    for (const index of indices) {
      const n = await sweepOlderThan(this.reader, this.client, index, version).catch((err: unknown) => {
        throw err instanceof SluiceError ? err : convertError(err, this.config.url, `sweep of index ${index}`)
      })
      if (n > 0)
        this.log.info({ index, documents: n }, 'search sink: removed documents missing from the snapshot')
    }
  }

  private async applyEvents(batch: ChangeBatch): Promise<void> {
    if (batch.events.length === 0) return
    const actions = await this.actions(batch)
    let chunk: Action[] = []
    let bytes = 0
    for (const a of actions) {
      const size = Buffer.byteLength(a.lines)
      if (
        chunk.length > 0 &&
        (chunk.length >= this.config.bulk_max_actions || bytes + size > this.config.bulk_max_bytes)
      ) {
        await this.send(chunk)
        chunk = []
        bytes = 0
      }
      chunk.push(a)
      bytes += size
    }
    if (chunk.length > 0) await this.send(chunk)
  }

  /**
   * Sends one bulk request and retries its retriable failures until all items are settled.
   * Items refused for good (400) are handed to the pipeline's on_error (SinkContext.reject)
   * once the rest is settled; the send resolves only when that is applied too.
   */
  private async send(chunk: Action[]): Promise<void> {
    const refused: { a: Action; err: SinkError }[] = []
    await this.sendItems(chunk, refused)
    for (const { a, err } of refused) {
      await this.reject!(a.ev, err)
      this.stats.rejected += 1
    }
  }

  private async sendItems(chunk: Action[], refused: { a: Action; err: SinkError }[]): Promise<void> {
    let pending = chunk
    for (let attempt = 0; ; attempt++) {
      let retry: Action[] = []
      let lastReason = ''
      let cause: unknown
      let results: BulkItemResult[] | undefined
      try {
        this.stats.bulkRequests += 1
        results = await this.client.bulk(pending.map((a) => a.lines).join(''), this.config.refresh)
      } catch (err) {
        if (!(err instanceof SluiceError) || !err.retriable) throw err
        retry = pending
        lastReason = err.message
        cause = err
      }
      if (results) {
        if (results.length !== pending.length) {
          throw new SinkError(
            'ES_BAD_RESPONSE',
            `bulk response has ${results.length} items for ${pending.length} actions`,
          )
        }
        for (let i = 0; i < pending.length; i++) {
          const a = pending[i]!
          const r = results[i]!
          if (this.settle(a, r, refused)) continue
          retry.push(a)
          lastReason ||= `index ${a.index}, id ${a.id}: status ${r.status} ${r.error?.type ?? ''}: ${r.error?.reason ?? ''}`
        }
      }
      if (retry.length === 0) return
      if (attempt >= this.config.max_retries) {
        throw new SinkError(
          'ES_RETRIES_EXHAUSTED',
          `${retry.length} bulk item(s) still failing after ${this.config.max_retries} retries (${lastReason}); ` +
            'nothing past them is acknowledged; check the cluster health, or raise max_retries',
          { cause, retriable: true },
        )
      }
      this.stats.retried += retry.length
      const cap = Math.min(this.config.retry_max_backoff_ms, this.config.retry_backoff_ms * 2 ** attempt)
      await this.sleep(Math.floor(this.random() * cap))
      pending = retry
    }
  }

  /**
   * Settles one item result: true when done (applied, stale, skipped, or refused and queued
   * in `refused` for the pipeline's on_error); false to retry; throws to halt.
   */
  private settle(a: Action, r: BulkItemResult, refused: { a: Action; err: SinkError }[]): boolean {
    if (r.status >= 200 && r.status < 300) {
      if (a.op === 'delete') this.stats.deleted += 1
      else this.stats.indexed += 1
      return true
    }
    if (a.op === 'delete' && r.status === 404 && r.error === undefined) {
      // `not_found`: nothing to delete; the version tombstone is recorded all the same.
      this.stats.deleted += 1
      return true
    }
    if (r.status === 409 && r.error?.type === 'version_conflict_engine_exception') {
      this.stats.stale += 1
      return true
    }
    if (r.status === 429 || r.status >= 500) return false
    const what = `${r.status} ${r.error?.type ?? 'error'}: ${r.error?.reason ?? 'no reason given'}`
    if (r.status === 400 && this.config.on_mapping_error === 'skip') {
      this.stats.skipped += 1
      this.log.warn(
        { index: a.index, id: a.id, status: r.status, type: r.error?.type },
        'document refused, skipped',
      )
      return true
    }
    const err = new SinkError(
      'ES_DOCUMENT_REJECTED',
      `index ${a.index} refused ${a.op === 'delete' ? 'the delete of ' : ''}document id '${a.id}' (${what}); ` +
        (r.status === 400
          ? 'fix the index mapping (or let the sink create it: create_index: true) or the data, or set the ' +
            "pipeline's on_error: dead_letter or skip (or the deprecated on_mapping_error: skip)"
          : r.status === 404
            ? 'create the index, enable auto-creation on the server, or set create_index: true'
            : 'check the index settings and the sink credentials'),
    )
    if (r.status === 400 && this.config.on_mapping_error === undefined && this.reject) {
      refused.push({ a, err })
      return true
    }
    throw err
  }
}

/** Creates the sink (registry `create`). */
export function createElasticsearchSink(
  config: ElasticsearchConfig,
  ctx: SinkContext,
  deps?: ElasticsearchSinkDeps,
): ElasticsearchSink {
  return new ElasticsearchSink(config, ctx, deps)
}
