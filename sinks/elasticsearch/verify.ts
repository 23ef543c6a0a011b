import { PreconditionError } from '../../pipeline/errors.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { SinkContext } from '../../pipeline/sink.js'
import type { SinkReader, Verifier } from '../../pipeline/verify.js'
import type { Document } from '../document.js'
import { convertError } from './client.js'
import type { ElasticsearchConfig } from './config.js'
import { indexNamer } from './index-name.js'
import { isIndexMissing, readClient, type ReadClient } from './read-client.js'

/**
 * Reads an Elasticsearch/OpenSearch index back for `sluice verify`: the sink's index of a
 * table (same template), documents by `_id` (= keyString) with `_mget`, every id of the
 * index with a scroll sorted by `_doc` (the cheapest order; both products support it).
 */
export class SearchReader implements SinkReader {
  readonly target: string
  private readonly client: ReadClient
  private readonly indexName: (t: TableSchema) => string

  constructor(
    private readonly cfg: ElasticsearchConfig,
    ctx: SinkContext,
  ) {
    const { node, client } = readClient(cfg)
    this.target = `${cfg.flavor} ${node}`
    this.client = client
    this.indexName = indexNamer(cfg.index, ctx.avro.prefix)
  }

  async open(): Promise<void> {
    const info = await this.call('info request', () => this.client.info())
    const product = info.product === 'opensearch' ? 'opensearch' : 'elasticsearch'
    if (product !== this.cfg.flavor) {
      throw new PreconditionError(
        'ES_WRONG_FLAVOR',
        `the search server at the sink url is ${product} ${info.version}, but the sink has flavor: ${this.cfg.flavor}; set flavor: ${product}`,
      )
    }
  }

  location(table: TableSchema): string {
    return this.indexName(table)
  }

  async fetch(table: TableSchema, keys: readonly string[]): Promise<Map<string, Document>> {
    const out = new Map<string, Document>()
    if (keys.length === 0) return out
    const index = this.indexName(table)
    const hits = await this.call(`_mget on index ${index}`, () => this.client.mget(index, keys), [])
    for (const h of hits) if (h.found === true && h._source) out.set(h._id, h._source)
    return out
  }

  async *keys(table: TableSchema): AsyncIterable<string[]> {
    const index = this.indexName(table)
    let page = await this.call(`scroll of index ${index}`, () => this.client.scrollStart(index), null)
    try {
      while (page && page.ids.length > 0) {
        yield page.ids
        const id = page.scrollId
        if (id === undefined) break
        page = await this.call(`scroll of index ${index}`, () => this.client.scrollNext(id))
      }
    } finally {
      const id = page?.scrollId
      if (id !== undefined) await this.client.scrollClear(id).catch(() => {})
    }
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => {})
  }

  /** Runs a request; a missing index answers `missing` when given, other errors are converted once. */
  private async call<T>(what: string, fn: () => Promise<T>, missing?: T): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (missing !== undefined && isIndexMissing(err)) return missing
      throw convertError(err, this.target, what)
    }
  }
}

/** The verifier of an elasticsearch sink config (registry hook). */
export function searchVerifier(cfg: ElasticsearchConfig, ctx: SinkContext): Verifier {
  return new SearchReader(cfg, ctx)
}
