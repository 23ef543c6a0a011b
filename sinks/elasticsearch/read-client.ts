import { Client as EsClient } from '@elastic/elasticsearch'
import { Client as OsClient } from '@opensearch-project/opensearch'
import { connectionOf } from './client.js'
import type { ElasticsearchConfig } from './config.js'

/**
 * Read calls on an index over either official client, used by `sluice verify` (documents
 * by id, every id) and by the sink's post-snapshot sweep (every id with its version).
 * Errors are the clients' own; callers convert them once with convertError().
 */

/** Document ids per scroll page. */
const PAGE = 1000
/** How long the server keeps a scroll between pages. */
const SCROLL_KEEPALIVE = '2m'

/** One `_mget` / search hit, as both clients return it. */
export interface Hit {
  readonly _id: string
  readonly found?: boolean
  readonly _version?: number
  readonly _source?: Record<string, unknown>
}

/** One scroll page: ids and, in the same order, their versions (0 when not asked for). */
export interface Page {
  readonly scrollId: string | undefined
  readonly ids: string[]
  readonly versions: number[]
}

/** The read calls, over either official client. */
export interface ReadClient {
  info(): Promise<{ product: string; version: string }>
  mget(index: string, ids: readonly string[]): Promise<Hit[]>
  /** Starts a scroll over every document id of `index` (with versions when `versions`). */
  scrollStart(index: string, versions?: boolean): Promise<Page>
  scrollNext(scrollId: string): Promise<Page>
  scrollClear(scrollId: string): Promise<void>
  close(): Promise<void>
}

export const isIndexMissing = (err: unknown): boolean => {
  const e = err as { meta?: { statusCode?: number; body?: { error?: { type?: string } } } }
  return e.meta?.statusCode === 404 && e.meta.body?.error?.type === 'index_not_found_exception'
}

const pageOf = (body: unknown): Page => {
  const b = body as { _scroll_id?: string; hits?: { hits?: Hit[] } }
  const hits = b.hits?.hits ?? []
  return { scrollId: b._scroll_id, ids: hits.map((h) => h._id), versions: hits.map((h) => h._version ?? 0) }
}

export function readClient(cfg: ElasticsearchConfig): { node: string; client: ReadClient } {
  const { node, username, password } = connectionOf(cfg)
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
        scrollStart: async (index, versions = false) =>
          pageOf(
            await c.search({
              index,
              scroll: SCROLL_KEEPALIVE,
              size: PAGE,
              sort: ['_doc'],
              _source: false,
              version: versions,
            }),
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
      scrollStart: async (index, versions = false) => {
        const { body } = await c.search({
          index,
          scroll: SCROLL_KEEPALIVE,
          size: PAGE,
          body: { sort: ['_doc'], _source: false, version: versions },
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
