import { Client as EsClient, errors as esErrors } from '@elastic/elasticsearch'
import { Client as OsClient, errors as osErrors } from '@opensearch-project/opensearch'
import { PreconditionError, SinkError } from '../../pipeline/errors.js'
import type { ElasticsearchConfig } from './config.js'

/** One `_bulk` item result, in request order. */
export interface BulkItemResult {
  readonly status: number
  /** `result` of a successful item (`created`, `updated`, `deleted`, `not_found`). */
  readonly result?: string
  readonly error?: { readonly type: string; readonly reason: string }
}

/** Cluster facts from `GET /`. */
export interface ClusterInfo {
  readonly product: 'elasticsearch' | 'opensearch'
  readonly version: string
}

/**
 * The calls the search sink makes, over either official client. Errors are SinkErrors
 * (or PreconditionErrors for authentication and product mismatches), classified once in
 * `convertError`; secrets never appear in them.
 */
export interface SearchClient {
  info(): Promise<ClusterInfo>
  indexExists(index: string): Promise<boolean>
  /** Creates an index with mappings; false when it already existed (a concurrent creator won). */
  createIndex(index: string, mappings: Record<string, unknown>): Promise<boolean>
  /** Sends one NDJSON `_bulk` body; resolves with the per-item results. */
  bulk(ndjson: string, refresh: boolean | 'wait_for'): Promise<BulkItemResult[]>
  close(): Promise<void>
}

/** Where the server is: the URL without credentials, and the credentials taken out of it. */
function splitUrl(url: string): { node: string; username?: string; password?: string } {
  const u = new URL(url)
  const username = u.username === '' ? undefined : decodeURIComponent(u.username)
  const password = u.password === '' ? undefined : decodeURIComponent(u.password)
  u.username = ''
  u.password = ''
  return { node: u.toString().replace(/\/$/, ''), username, password }
}

function statusOf(err: unknown): number | undefined {
  const meta = (err as { meta?: { statusCode?: unknown } }).meta
  return typeof meta?.statusCode === 'number' ? meta.statusCode : undefined
}

function responseReason(err: unknown): string {
  const body = (err as { meta?: { body?: unknown } }).meta?.body
  const e = (body as { error?: { type?: unknown; reason?: unknown } } | undefined)?.error
  if (e && typeof e === 'object') return `${String(e.type)}: ${String(e.reason)}`
  return `status ${statusOf(err) ?? 'unknown'}`
}

/**
 * Classifies a client error (the one place that does): network failures, timeouts, 429
 * and 5xx are retriable; 401/403 are a PreconditionError naming the fix; anything else is
 * permanent. `what` names the request (`bulk request to <url>`).
 */
export function convertError(err: unknown, node: string, what: string): SinkError | PreconditionError {
  if (err instanceof SinkError || err instanceof PreconditionError) return err
  const isNetwork =
    err instanceof esErrors.ConnectionError ||
    err instanceof esErrors.TimeoutError ||
    err instanceof esErrors.NoLivingConnectionsError ||
    err instanceof osErrors.ConnectionError ||
    err instanceof osErrors.TimeoutError ||
    err instanceof osErrors.NoLivingConnectionsError
  if (isNetwork) {
    return new SinkError(
      'ES_UNREACHABLE',
      `search server ${node} cannot be reached (${(err as Error).name}) during ${what}; ` +
        'check the sink url and that the server is up',
      { cause: err, retriable: true },
    )
  }
  if (err instanceof esErrors.ProductNotSupportedError) {
    return new PreconditionError(
      'ES_WRONG_FLAVOR',
      `search server ${node} is not Elasticsearch (no x-elastic-product header); ` +
        'for OpenSearch set flavor: opensearch on the sink',
      { cause: err },
    )
  }
  const status = statusOf(err)
  if (status === 401 || status === 403) {
    return new PreconditionError(
      'ES_AUTH_FAILED',
      `search server ${node} refused the credentials during ${what} (status ${status}); ` +
        'check the sink username/password or api_key and its privileges',
      { cause: err },
    )
  }
  const retriable = status === 429 || (status !== undefined && status >= 500)
  return new SinkError('ES_REQUEST_FAILED', `${what} to ${node} failed: ${responseReason(err)}`, {
    cause: err,
    retriable,
  })
}

function bulkItems(body: unknown): BulkItemResult[] {
  const items = (body as { items?: unknown[] } | undefined)?.items
  if (!Array.isArray(items)) throw new SinkError('ES_BAD_RESPONSE', 'bulk response without items')
  return items.map((wrapper) => {
    const inner = Object.values(wrapper as Record<string, unknown>)[0] as {
      status: number
      result?: string
      error?: { type?: string; reason?: string }
    }
    return {
      status: inner.status,
      result: inner.result,
      error: inner.error ? { type: String(inner.error.type), reason: String(inner.error.reason) } : undefined,
    }
  })
}

/** A SearchClient over the configured flavor's official client. */
/** The node URL without credentials, and the credentials (the sink's own fields win over the URL's). */
export function connectionOf(config: ElasticsearchConfig): {
  node: string
  username?: string | undefined
  password?: string | undefined
} {
  const { node, username, password } = splitUrl(config.url)
  return { node, username: config.username ?? username, password: config.password ?? password }
}

export function createSearchClient(config: ElasticsearchConfig): SearchClient {
  const { node, username, password } = connectionOf(config)
  const common = {
    node,
    maxRetries: 0,
    requestTimeout: config.request_timeout_ms,
  }
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (err) {
      throw convertError(err, node, what)
    }
  }

  if (config.flavor === 'elasticsearch') {
    const auth =
      config.api_key !== undefined
        ? { apiKey: config.api_key }
        : username !== undefined && password !== undefined
          ? { username, password }
          : undefined
    const client = new EsClient({ ...common, ...(auth ? { auth } : {}) })
    return {
      info: () =>
        call('info request', async () => {
          const body = (await client.info()) as unknown as {
            version?: { number?: string; distribution?: string }
          }
          return {
            product: body.version?.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch',
            version: String(body.version?.number ?? ''),
          }
        }),
      indexExists: (index) => call(`index check of ${index}`, () => client.indices.exists({ index })),
      createIndex: (index, mappings) =>
        call(`creation of index ${index}`, async () => {
          try {
            await client.indices.create({ index, mappings })
            return true
          } catch (err) {
            if (
              err instanceof esErrors.ResponseError &&
              err.body?.error?.type === 'resource_already_exists_exception'
            )
              return false
            throw err
          }
        }),
      bulk: (ndjson, refresh) =>
        call('bulk request', async () =>
          bulkItems(await client.bulk({ operations: ndjson as unknown as [], refresh })),
        ),
      close: () => client.close(),
    }
  }

  const auth =
    config.api_key !== undefined
      ? undefined
      : username !== undefined && password !== undefined
        ? { username, password }
        : undefined
  const client = new OsClient({
    ...common,
    ...(auth ? { auth } : {}),
    ...(config.api_key !== undefined ? { headers: { authorization: `ApiKey ${config.api_key}` } } : {}),
  })
  return {
    info: () =>
      call('info request', async () => {
        const { body } = (await client.info()) as unknown as {
          body: { version?: { number?: string; distribution?: string } }
        }
        return {
          product: body.version?.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch',
          version: String(body.version?.number ?? ''),
        }
      }),
    indexExists: (index) =>
      call(`index check of ${index}`, async () => (await client.indices.exists({ index })).body === true),
    createIndex: (index, mappings) =>
      call(`creation of index ${index}`, async () => {
        try {
          await client.indices.create({ index, body: { mappings } })
          return true
        } catch (err) {
          const type = (err as { meta?: { body?: { error?: { type?: string } } } }).meta?.body?.error?.type
          if (err instanceof osErrors.ResponseError && type === 'resource_already_exists_exception')
            return false
          throw err
        }
      }),
    bulk: (ndjson, refresh) =>
      call('bulk request', async () => {
        const res = await client.bulk({ body: ndjson as unknown as [], refresh: String(refresh) as 'true' })
        return bulkItems(res.body)
      }),
    close: () => client.close(),
  }
}
