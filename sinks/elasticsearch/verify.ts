import { Client as EsClient } from '@elastic/elasticsearch'
import { Client as OsClient } from '@opensearch-project/opensearch'
import { PreconditionError } from '../../pipeline/errors.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { SinkContext } from '../../pipeline/sink.js'
import type { SinkReader, Verifier } from '../../pipeline/verify.js'
import type { Document } from '../document.js'
import { convertError } from './client.js'
import type { ElasticsearchConfig } from './config.js'
import { indexNamer } from './index-name.js'

/** Document ids per scroll page. */
const PAGE = 1000
/** How long the server keeps a scroll between pages. */
const SCROLL_KEEPALIVE = '2m'

/** One `_mget` / search hit, as both clients return it. */
interface Hit {
  readonly _id: string
  readonly found?: boolean
  readonly _source?: Record<string, unknown>
}

interface Page {
  readonly scrollId: string | undefined
  readonly ids: string[]
}

/** The read calls verify makes, over either official client. */
interface ReadClient {
  info(): Promise<{ product: string; version: string }>
  mget(index: string, ids: readonly string[]): Promise<Hit[]>
  scrollStart(index: string): Promise<Page>
  scrollNext(scrollId: string): Promise<Page>
  scrollClear(scrollId: string): Promise<void>
  close(): Promise<void>
}

const isIndexMissing = (err: unknown): boolean => {
  const e = err as { meta?: { statusCode?: number; body?: { error?: { type?: string } } } }
  return e.meta?.statusCode === 404 && e.meta.body?.error?.type === 'index_not_found_exception'
}

const pageOf = (body: unknown): Page => {
  const b = body as { _scroll_id?: string; hits?: { hits?: Hit[] } }
  return { scrollId: b._scroll_id, ids: (b.hits?.hits ?? []).map((h) => h._id) }
}

/** The node URL without credentials, and the credentials (the sink's own fields win over the URL's). */
function connection(cfg: ElasticsearchConfig): { node: string; username?: string; password?: string } {
  const u = new URL(cfg.url)
  const username = cfg.username ?? (u.username === '' ? undefined : decodeURIComponent(u.username))
  const password = cfg.password ?? (u.password === '' ? undefined : decodeURIComponent(u.password))
  u.username = ''
  u.password = ''
  return { node: u.toString().replace(/\/$/, ''), username, password }
}

function readClient(cfg: ElasticsearchConfig): { node: string; client: ReadClient } {
  const { node, username, password } = connection(cfg)
  const basic = username !== undefined && password !== undefined ? { username, password } : undefined
  const common = { node, maxRetries: 2, requestTimeout: cfg.request_timeout_ms }
  if (cfg.flavor === 'elasticsearch') {
    const auth = cfg.api_key !== undefined ? { apiKey: cfg.api_key } : basic
    const c = new EsClient({ ...common, ...(auth ? { auth } : {}) })
    return {
      node,
      client: {
        info: async () => {
          const b = (await c.info()) as unknown as { version?: { number?: string; distribution?: string } }
          return {
            product: b.version?.distribution ?? 'elasticsearch',
            version: String(b.version?.number ?? ''),
          }
        },
        mget: async (index, ids) => ((await c.mget({ index, ids: [...ids] })).docs ?? []) as Hit[],
        scrollStart: async (index) =>
          pageOf(
            await c.search({ index, scroll: SCROLL_KEEPALIVE, size: PAGE, sort: ['_doc'], _source: false }),
          ),
        scrollNext: async (scrollId) =>
          pageOf(await c.scroll({ scroll_id: scrollId, scroll: SCROLL_KEEPALIVE })),
        scrollClear: async (scrollId) => {
          await c.clearScroll({ scroll_id: scrollId })
        },
        close: () => c.close(),
      },
    }
  }
  const c = new OsClient({
    ...common,
    ...(basic && cfg.api_key === undefined ? { auth: basic } : {}),
    ...(cfg.api_key !== undefined ? { headers: { authorization: `ApiKey ${cfg.api_key}` } } : {}),
  })
  return {
    node,
    client: {
      info: async () => {
        const { body } = (await c.info()) as unknown as {
          body: { version?: { number?: string; distribution?: string } }
        }
        return {
          product: body.version?.distribution ?? 'elasticsearch',
          version: String(body.version?.number ?? ''),
        }
      },
      mget: async (index, ids) => {
        const { body } = await c.mget({ index, body: { ids: [...ids] } })
        return ((body as { docs?: Hit[] }).docs ?? []) as Hit[]
      },
      scrollStart: async (index) => {
        const { body } = await c.search({
          index,
          scroll: SCROLL_KEEPALIVE,
          size: PAGE,
          body: { sort: ['_doc'], _source: false },
        })
        return pageOf(body)
      },
      scrollNext: async (scrollId) => {
        const { body } = await c.scroll({ body: { scroll_id: scrollId, scroll: SCROLL_KEEPALIVE } })
        return pageOf(body)
      },
      scrollClear: async (scrollId) => {
        await c.clearScroll({ body: { scroll_id: scrollId } })
      },
      close: () => c.close(),
    },
  }
}

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
