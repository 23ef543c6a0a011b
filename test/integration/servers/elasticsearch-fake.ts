import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * An in-test Elasticsearch / OpenSearch server (node:http) implementing the semantics the
 * search sink and `sluice verify` rely on, so both are driven through the real client
 * libraries (@elastic/elasticsearch refuses a server without the `x-elastic-product`
 * header; @opensearch-project/opensearch does not need it).
 *
 * Stable API (other suites import it):
 *
 * ```ts
 * const es = await startSearchFake({ flavor: 'elasticsearch' })  // or 'opensearch'
 * es.url                      // http://127.0.0.1:<port>
 * es.docs('orders')           // Map<_id, _source> of the live documents of an index
 * es.versions('orders')       // Map<_id, { version, deleted }> (deleted: version tombstone)
 * es.mapping('orders')        // the index's `mappings` (undefined: no such index)
 * es.indices()                // names of existing indices
 * es.failNext({ status: 429, count: 2, id: '7' })   // per bulk item fault
 * es.failRequests(1, 503)     // the next request(s) fail as a whole
 * es.stats                    // counters: requests, bulkRequests, items, conflicts, ...
 * es.authorizations           // Authorization headers seen (last 100)
 * await es.stop()
 * ```
 *
 * Implemented endpoints:
 * - `GET /`: cluster info (`version.number`, and `version.distribution: opensearch` for
 *   OpenSearch). Every Elasticsearch-flavored response carries `x-elastic-product:
 *   Elasticsearch`.
 * - `HEAD|PUT|DELETE /{index}` (exists / create with `{ mappings, settings }` / delete),
 *   `GET /{index}/_mapping`, `POST /{index}/_refresh`, `POST /_refresh`,
 *   `GET|POST /{index}/_count`.
 * - `POST|PUT /_bulk` and `/{index}/_bulk`: NDJSON `index`, `create`, `delete` actions with
 *   `version` and `version_type` (`internal`, `external`, `external_gte`), per-item results,
 *   `errors: true` when any item failed. `?refresh=` is accepted (the fake is always
 *   refreshed). Indices are auto-created on first write (as ES does by default).
 * - `GET /{index}/_doc/{id}`, `PUT|POST /{index}/_doc/{id}` (with `version`/`version_type`
 *   query params), `DELETE /{index}/_doc/{id}`.
 * - `GET|POST /{index}/_mget` (`ids` or `docs`): `found` and `_source` per id (sluice verify).
 * - `GET|POST /{index}/_search`: `size`, `from`, `query` (only `match_all`/absent),
 *   `sort` on `_id`, `_doc` or `_shard_doc` (all mean: ascending `_id`), `search_after`
 *   (the previous hit's `sort` array); hits carry `sort: [<_id>]` when sorted.
 *   `?scroll=` starts a scroll over a snapshot of the index; `POST /_search/scroll`
 *   (`{ scroll_id }`) continues it; `DELETE /_search/scroll` clears it.
 *
 * Version semantics (as Elasticsearch): with `external`, a write whose version is <= the
 * stored one (live document or delete tombstone) fails with 409
 * `version_conflict_engine_exception`; with `external_gte`, only a lower version fails.
 * Deletes keep a tombstone with their version (ES keeps them `index.gc_deletes`, 60 s by
 * default; the fake keeps them until `forgetTombstones()`). A versioned delete of a missing
 * document answers 404 `not_found` and still records the tombstone. External versions
 * must lie in 0..2^63-1 (else 400 action_request_validation_exception).
 *
 * Mappings are enforced minimally: a value that a mapped numeric, boolean or date field
 * cannot parse gives a 400 `mapper_parsing_exception` for that item (as a real server
 * would for a pre-existing index with incompatible mappings). Search is realtime (no
 * refresh interval).
 */
export interface SearchFake {
  readonly url: string
  readonly flavor: SearchFlavor
  /** Live documents of an index: `_id` → `_source` (empty when the index does not exist). */
  docs(index: string): Map<string, Record<string, unknown>>
  /** Stored versions of an index, including delete tombstones. */
  versions(index: string): Map<string, { version: bigint; deleted: boolean }>
  /** The `mappings` the index was created with (`{}` when auto-created; undefined when absent). */
  mapping(index: string): Record<string, unknown> | undefined
  /** Names of the existing indices. */
  indices(): string[]
  /** Queues a per-item fault: the next `count` (default 1) matching bulk items fail with it. */
  failNext(fault: ItemFault): void
  /** The next `count` HTTP requests (other than `GET /`) fail as a whole with `status`. */
  failRequests(count: number, status: number): void
  /** Drops every delete tombstone (as ES does after `index.gc_deletes`). */
  forgetTombstones(): void
  /** Counters since start. */
  readonly stats: SearchFakeStats
  /** The Authorization headers of the last 100 requests (undefined: none sent). */
  readonly authorizations: (string | undefined)[]
  stop(): Promise<void>
}

/** `elasticsearch` or `opensearch`. */
export type SearchFlavor = 'elasticsearch' | 'opensearch'

/** A per-item fault for failNext(). Unset matchers match every item. */
export interface ItemFault {
  /** HTTP status of the item: 429 (es_rejected_execution_exception), 5xx, 400 (mapper_parsing_exception)... */
  readonly status: number
  /** How many matching items fail (default 1). */
  readonly count?: number
  readonly index?: string
  readonly id?: string
  /** Bulk action: `index`, `create` or `delete`. */
  readonly action?: string
  /** Error type; defaults by status. */
  readonly type?: string
  readonly reason?: string
}

/** Counters of a fake. */
export interface SearchFakeStats {
  requests: number
  bulkRequests: number
  /** Bulk items received (including failed ones). */
  items: number
  /** Items answered 409 version_conflict_engine_exception. */
  conflicts: number
  /** Items failed by failNext() faults or mapping checks. */
  itemFaults: number
  /** Requests failed by failRequests(). */
  requestFaults: number
}

/** Options of startSearchFake(). */
export interface SearchFakeOptions {
  readonly flavor?: SearchFlavor
  /** Reported `version.number` (default 8.15.0 for Elasticsearch, 2.17.0 for OpenSearch). */
  readonly version?: string
  /** When set, requests must carry these credentials (else 401). */
  readonly auth?: { readonly username: string; readonly password: string } | { readonly apiKey: string }
  /** Auto-create indices on first write (default true). */
  readonly autoCreate?: boolean
}

interface Stored {
  source: Record<string, unknown> | null
  version: bigint
  seqNo: number
}

interface Index {
  readonly uuid: string
  readonly mappings: Record<string, unknown>
  readonly docs: Map<string, Stored>
}

interface HttpReply {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

const MAX_VERSION = (1n << 63n) - 1n

const defaultFaultType = (status: number): string =>
  status === 429
    ? 'es_rejected_execution_exception'
    : status === 400
      ? 'mapper_parsing_exception'
      : status === 409
        ? 'version_conflict_engine_exception'
        : 'node_not_connected_exception'

function errorBody(status: number, type: string, reason: string, index?: string): HttpReply {
  const cause = { type, reason, ...(index === undefined ? {} : { index }) }
  return { status, body: { error: { root_cause: [cause], ...cause }, status } }
}

/** Checks a value against a mapped field type; returns a reason when a real server would refuse it. */
function mappingProblem(field: string, type: unknown, value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined
  const numeric = ['long', 'integer', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float']
  if (typeof type !== 'string') return undefined
  if (numeric.includes(type)) {
    const ok =
      typeof value === 'number' ||
      (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)))
    return ok ? undefined : `failed to parse field [${field}] of type [${type}]`
  }
  if (type === 'boolean') {
    const ok = typeof value === 'boolean' || value === 'true' || value === 'false'
    return ok ? undefined : `failed to parse field [${field}] of type [boolean]`
  }
  if (type === 'date') {
    const ok = typeof value === 'number' || (typeof value === 'string' && !Number.isNaN(Date.parse(value)))
    return ok ? undefined : `failed to parse field [${field}] of type [date]`
  }
  return undefined
}

/** Starts a fake on a free loopback port. */
export async function startSearchFake(options: SearchFakeOptions = {}): Promise<SearchFake> {
  const flavor = options.flavor ?? 'elasticsearch'
  const number = options.version ?? (flavor === 'elasticsearch' ? '8.15.0' : '2.17.0')
  const autoCreate = options.autoCreate ?? true
  const indices = new Map<string, Index>()
  const faults: { fault: ItemFault; left: number }[] = []
  let requestFaults: { left: number; status: number } | null = null
  const scrolls = new Map<string, { index: string; ids: string[]; pos: number; size: number }>()
  const stats: SearchFakeStats = {
    requests: 0,
    bulkRequests: 0,
    items: 0,
    conflicts: 0,
    itemFaults: 0,
    requestFaults: 0,
  }
  const authorizations: (string | undefined)[] = []
  let seqNo = 0

  const expectedAuth =
    options.auth === undefined
      ? undefined
      : 'apiKey' in options.auth
        ? `ApiKey ${options.auth.apiKey}`
        : `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`

  const createIndex = (name: string, mappings: Record<string, unknown> = {}): Index => {
    const ix: Index = { uuid: randomUUID(), mappings, docs: new Map() }
    indices.set(name, ix)
    return ix
  }

  const takeFault = (index: string, id: string, action: string): ItemFault | undefined => {
    for (let i = 0; i < faults.length; i++) {
      const f = faults[i]!
      const m = f.fault
      if (m.index !== undefined && m.index !== index) continue
      if (m.id !== undefined && m.id !== id) continue
      if (m.action !== undefined && m.action !== action) continue
      f.left -= 1
      if (f.left <= 0) faults.splice(i, 1)
      return m
    }
    return undefined
  }

  /** Applies one write; returns the bulk item result (without the action wrapper). */
  const applyWrite = (
    action: string,
    indexName: string,
    id: string | undefined,
    meta: Record<string, unknown>,
    source: Record<string, unknown> | undefined,
  ): Record<string, unknown> => {
    const docId = id ?? randomUUID()
    const itemError = (status: number, type: string, reason: string): Record<string, unknown> => ({
      _index: indexName,
      _id: docId,
      status,
      error: {
        type,
        reason,
        index: indexName,
        shard: '0',
        index_uuid: indices.get(indexName)?.uuid ?? '_na_',
      },
    })
    const fault = takeFault(indexName, docId, action)
    if (fault) {
      stats.itemFaults += 1
      return itemError(
        fault.status,
        fault.type ?? defaultFaultType(fault.status),
        fault.reason ?? 'injected fault',
      )
    }
    let ix = indices.get(indexName)
    if (!ix) {
      if (!autoCreate || action === 'delete') {
        if (action === 'delete' && autoCreate) ix = createIndex(indexName)
        else return itemError(404, 'index_not_found_exception', `no such index [${indexName}]`)
      } else ix = createIndex(indexName)
    }
    const versionType = (meta.version_type as string | undefined) ?? 'internal'
    const rawVersion = meta.version
    const current = ix.docs.get(docId)
    let newVersion: bigint
    if (versionType === 'external' || versionType === 'external_gte') {
      let v: bigint
      try {
        v = BigInt(rawVersion as string)
      } catch {
        return itemError(
          400,
          'action_request_validation_exception',
          'Validation Failed: 1: version is missing;',
        )
      }
      if (v < 0n || v > MAX_VERSION) {
        return itemError(
          400,
          'action_request_validation_exception',
          `Validation Failed: 1: illegal version value [${v}] for version type [${versionType}];`,
        )
      }
      newVersion = v
      if (current) {
        const stale =
          versionType === 'external' ? newVersion <= current.version : newVersion < current.version
        if (stale) {
          stats.conflicts += 1
          return itemError(
            409,
            'version_conflict_engine_exception',
            `[${docId}]: version conflict, current version [${current.version}] is higher or equal to the one provided [${newVersion}]`,
          )
        }
      }
    } else if (versionType === 'internal') {
      if (action === 'create' && current?.source) {
        stats.conflicts += 1
        return itemError(
          409,
          'version_conflict_engine_exception',
          `[${docId}]: version conflict, document already exists (current version [${current.version}])`,
        )
      }
      newVersion = (current?.version ?? 0n) + 1n
    } else {
      return itemError(400, 'illegal_argument_exception', `version type [${versionType}] is not supported`)
    }
    if (action === 'delete') {
      const existed = current?.source != null
      seqNo += 1
      ix.docs.set(docId, { source: null, version: newVersion, seqNo })
      return {
        _index: indexName,
        _id: docId,
        _version: Number(newVersion),
        result: existed ? 'deleted' : 'not_found',
        status: existed ? 200 : 404,
        _seq_no: seqNo,
        _primary_term: 1,
        _shards: { total: 1, successful: 1, failed: 0 },
      }
    }
    const props = (ix.mappings.properties ?? {}) as Record<string, { type?: unknown }>
    for (const [field, value] of Object.entries(source ?? {})) {
      const problem = mappingProblem(field, props[field]?.type, value)
      if (problem) {
        stats.itemFaults += 1
        return itemError(400, 'document_parsing_exception', `[1:1] ${problem}`)
      }
    }
    const created = current?.source == null
    seqNo += 1
    ix.docs.set(docId, { source: source ?? {}, version: newVersion, seqNo })
    return {
      _index: indexName,
      _id: docId,
      _version: Number(newVersion),
      result: created ? 'created' : 'updated',
      status: created ? 201 : 200,
      _seq_no: seqNo,
      _primary_term: 1,
      _shards: { total: 1, successful: 1, failed: 0 },
    }
  }

  const bulk = (text: string, defaultIndex: string | undefined): HttpReply => {
    stats.bulkRequests += 1
    const lines = text.split('\n').filter((l) => l.trim() !== '')
    const items: Record<string, unknown>[] = []
    let errors = false
    for (let i = 0; i < lines.length; i++) {
      let head: Record<string, Record<string, unknown>>
      try {
        head = JSON.parse(lines[i]!) as Record<string, Record<string, unknown>>
      } catch {
        return errorBody(400, 'x_content_parse_exception', `malformed action line ${i + 1}`)
      }
      const action = Object.keys(head)[0]!
      const meta = head[action] ?? {}
      // JSON.parse would round versions above 2^53: take the digits from the text.
      const exact = /"version"\s*:\s*"?(-?\d+)/.exec(lines[i]!)
      if (exact) meta.version = exact[1]
      const indexName = (meta._index as string | undefined) ?? defaultIndex
      if (indexName === undefined)
        return errorBody(400, 'action_request_validation_exception', 'index is missing')
      let source: Record<string, unknown> | undefined
      if (action === 'index' || action === 'create') {
        i += 1
        try {
          source = JSON.parse(lines[i] ?? '') as Record<string, unknown>
        } catch {
          return errorBody(400, 'x_content_parse_exception', `malformed source line ${i + 1}`)
        }
      } else if (action !== 'delete') {
        return errorBody(400, 'illegal_argument_exception', `unsupported bulk action [${action}]`)
      }
      stats.items += 1
      const result = applyWrite(action, indexName, meta._id as string | undefined, meta, source)
      if (result.error) errors = true
      items.push({ [action]: result })
    }
    return { status: 200, body: { took: 1, errors, items } }
  }

  const sortedLive = (ix: Index): string[] =>
    [...ix.docs]
      .filter(([, d]) => d.source !== null)
      .map(([id]) => id)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

  const hit = (indexName: string, ix: Index, id: string, sorted: boolean): Record<string, unknown> => {
    const d = ix.docs.get(id)!
    return {
      _index: indexName,
      _id: id,
      _version: Number(d.version),
      _score: sorted ? null : 1,
      _source: d.source,
      ...(sorted ? { sort: [id] } : {}),
    }
  }

  const searchReply = (hits: Record<string, unknown>[], total: number, scrollId?: string): HttpReply => ({
    status: 200,
    body: {
      took: 1,
      timed_out: false,
      ...(scrollId === undefined ? {} : { _scroll_id: scrollId }),
      _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
      hits: { total: { value: total, relation: 'eq' }, max_score: null, hits },
    },
  })

  const search = (indexName: string, body: Record<string, unknown>, query: URLSearchParams): HttpReply => {
    const ix = indices.get(indexName)
    if (!ix) return errorBody(404, 'index_not_found_exception', `no such index [${indexName}]`, indexName)
    const q = body.query as Record<string, unknown> | undefined
    if (q !== undefined && Object.keys(q).some((k) => k !== 'match_all')) {
      return errorBody(400, 'illegal_argument_exception', 'the fake supports match_all queries only')
    }
    const size = Number(body.size ?? query.get('size') ?? 10)
    const from = Number(body.from ?? query.get('from') ?? 0)
    const sorted = body.sort !== undefined
    let ids = sortedLive(ix)
    const total = ids.length
    if (query.get('scroll')) {
      const scrollId = randomUUID()
      scrolls.set(scrollId, { index: indexName, ids, pos: size, size })
      return searchReply(
        ids.slice(0, size).map((id) => hit(indexName, ix, id, sorted)),
        total,
        scrollId,
      )
    }
    const after = body.search_after as unknown[] | undefined
    if (after !== undefined) {
      const last = String(after[0])
      ids = ids.filter((id) => id > last)
    }
    return searchReply(
      ids.slice(from, from + size).map((id) => hit(indexName, ix, id, sorted)),
      total,
    )
  }

  const route = (method: string, path: string, query: URLSearchParams, text: string): HttpReply => {
    const parts = path
      .split('/')
      .filter((p) => p !== '')
      .map(decodeURIComponent)
    const json = (): Record<string, unknown> =>
      text.trim() === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
    if (parts.length === 0) {
      if (method !== 'GET' && method !== 'HEAD') return errorBody(405, 'method_not_allowed', method)
      const version: Record<string, unknown> =
        flavor === 'elasticsearch'
          ? {
              number,
              build_flavor: 'default',
              build_type: 'docker',
              lucene_version: '9.11.1',
              minimum_wire_compatibility_version: '7.17.0',
              minimum_index_compatibility_version: '7.0.0',
            }
          : {
              distribution: 'opensearch',
              number,
              build_type: 'tar',
              lucene_version: '9.11.1',
              minimum_wire_compatibility_version: '7.10.0',
              minimum_index_compatibility_version: '7.0.0',
            }
      return {
        status: 200,
        body: {
          name: 'fake-node',
          cluster_name: 'sluice-fake',
          cluster_uuid: 'fake-cluster-uuid',
          version,
          tagline:
            flavor === 'elasticsearch'
              ? 'You Know, for Search'
              : 'The OpenSearch Project: https://opensearch.org/',
        },
      }
    }
    const [first, second, third] = parts
    if (first === '_bulk') return bulk(text, undefined)
    if (first === '_refresh')
      return { status: 200, body: { _shards: { total: 1, successful: 1, failed: 0 } } }
    if (first === '_search' && second === 'scroll') {
      const id = (json().scroll_id as string | undefined) ?? query.get('scroll_id') ?? ''
      if (method === 'DELETE') {
        scrolls.delete(id)
        return { status: 200, body: { succeeded: true, num_freed: 1 } }
      }
      const s = scrolls.get(id)
      const ix = s ? indices.get(s.index) : undefined
      if (!s || !ix)
        return errorBody(404, 'search_context_missing_exception', `no search context found for id [${id}]`)
      const page = s.ids.slice(s.pos, s.pos + s.size).filter((d) => ix.docs.get(d)?.source != null)
      s.pos += s.size
      return searchReply(
        page.map((d) => hit(s.index, ix, d, false)),
        s.ids.length,
        id,
      )
    }
    if (first === undefined || first.startsWith('_'))
      return errorBody(400, 'illegal_argument_exception', `unsupported path ${path}`)
    const ix = indices.get(first)
    if (second === undefined) {
      if (method === 'HEAD') return { status: ix ? 200 : 404 }
      if (method === 'PUT') {
        if (ix)
          return errorBody(
            400,
            'resource_already_exists_exception',
            `index [${first}/${ix.uuid}] already exists`,
            first,
          )
        const b = json()
        createIndex(first, (b.mappings as Record<string, unknown> | undefined) ?? {})
        return { status: 200, body: { acknowledged: true, shards_acknowledged: true, index: first } }
      }
      if (method === 'DELETE') {
        if (!ix) return errorBody(404, 'index_not_found_exception', `no such index [${first}]`, first)
        indices.delete(first)
        return { status: 200, body: { acknowledged: true } }
      }
      if (method === 'GET') {
        if (!ix) return errorBody(404, 'index_not_found_exception', `no such index [${first}]`, first)
        return { status: 200, body: { [first]: { aliases: {}, mappings: ix.mappings, settings: {} } } }
      }
    }
    if (second === '_bulk') return bulk(text, first)
    if (second === '_refresh') {
      if (!ix) return errorBody(404, 'index_not_found_exception', `no such index [${first}]`, first)
      return { status: 200, body: { _shards: { total: 1, successful: 1, failed: 0 } } }
    }
    if (second === '_mapping') {
      if (!ix) return errorBody(404, 'index_not_found_exception', `no such index [${first}]`, first)
      return { status: 200, body: { [first]: { mappings: ix.mappings } } }
    }
    if (second === '_count') {
      if (!ix) return errorBody(404, 'index_not_found_exception', `no such index [${first}]`, first)
      return {
        status: 200,
        body: { count: sortedLive(ix).length, _shards: { total: 1, successful: 1, failed: 0 } },
      }
    }
    if (second === '_search') return search(first, json(), query)
    if (second === '_mget') {
      // `{ ids: [...] }` or `{ docs: [{ _id }] }`; ids the index (or a missing index) lacks are `found: false`.
      const b = json()
      const ids =
        (b.ids as string[] | undefined) ?? ((b.docs as { _id: string }[] | undefined) ?? []).map((d) => d._id)
      const docs = ids.map((id) => {
        const d = ix?.docs.get(id)
        if (!d || d.source === null) return { _index: first, _id: id, found: false }
        return {
          _index: first,
          _id: id,
          _version: Number(d.version),
          _seq_no: d.seqNo,
          _primary_term: 1,
          found: true,
          _source: d.source,
        }
      })
      return { status: 200, body: { docs } }
    }
    if (second === '_doc' && third !== undefined) {
      if (method === 'GET' || method === 'HEAD') {
        const d = ix?.docs.get(third)
        if (!ix) return errorBody(404, 'index_not_found_exception', `no such index [${first}]`, first)
        if (!d || d.source === null) return { status: 404, body: { _index: first, _id: third, found: false } }
        return {
          status: 200,
          body: {
            _index: first,
            _id: third,
            _version: Number(d.version),
            _seq_no: d.seqNo,
            _primary_term: 1,
            found: true,
            _source: d.source,
          },
        }
      }
      const meta = {
        version: query.get('version') ?? undefined,
        version_type: query.get('version_type') ?? undefined,
      }
      const action = method === 'DELETE' ? 'delete' : 'index'
      const r = applyWrite(action, first, third, meta, action === 'index' ? json() : undefined)
      const status = r.status as number
      if (r.error) {
        const e = r.error as { type: string; reason: string }
        return errorBody(status, e.type, e.reason, first)
      }
      return { status, body: r }
    }
    return errorBody(400, 'illegal_argument_exception', `unsupported path ${path}`)
  }

  const handle = (req: IncomingMessage, res: ServerResponse, text: string): void => {
    stats.requests += 1
    authorizations.push(req.headers.authorization)
    if (authorizations.length > 100) authorizations.shift()
    const url = new URL(req.url ?? '/', 'http://fake')
    const method = req.method ?? 'GET'
    let reply: HttpReply
    if (expectedAuth !== undefined && req.headers.authorization !== expectedAuth) {
      reply = errorBody(401, 'security_exception', 'unable to authenticate user for REST request [/]')
      reply.headers = { 'www-authenticate': 'Basic realm="security" charset="UTF-8"' }
    } else if (requestFaults && url.pathname !== '/') {
      stats.requestFaults += 1
      const status = requestFaults.status
      requestFaults.left -= 1
      if (requestFaults.left <= 0) requestFaults = null
      reply = errorBody(status, defaultFaultType(status), 'injected request fault')
    } else {
      try {
        reply = route(method, url.pathname, url.searchParams, text)
      } catch (err) {
        reply = errorBody(400, 'parse_exception', (err as Error).message)
      }
    }
    const headers: Record<string, string> = { ...(reply.headers ?? {}) }
    if (flavor === 'elasticsearch') headers['x-elastic-product'] = 'Elasticsearch'
    if (reply.body === undefined || method === 'HEAD') {
      res.writeHead(reply.status, { ...headers, 'content-length': '0' })
      res.end()
      return
    }
    const payload = Buffer.from(JSON.stringify(reply.body))
    res.writeHead(reply.status, {
      ...headers,
      'content-type': 'application/json; charset=UTF-8',
      'content-length': String(payload.length),
    })
    res.end(payload)
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')))
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port

  let stopped = false
  return {
    url: `http://127.0.0.1:${port}`,
    flavor,
    docs(index) {
      const out = new Map<string, Record<string, unknown>>()
      const ix = indices.get(index)
      if (ix) for (const id of sortedLive(ix)) out.set(id, ix.docs.get(id)!.source!)
      return out
    },
    versions(index) {
      const out = new Map<string, { version: bigint; deleted: boolean }>()
      for (const [id, d] of indices.get(index)?.docs ?? [])
        out.set(id, { version: d.version, deleted: d.source === null })
      return out
    },
    mapping: (index) => indices.get(index)?.mappings,
    indices: () => [...indices.keys()],
    failNext(fault) {
      faults.push({ fault, left: fault.count ?? 1 })
    },
    failRequests(count, status) {
      requestFaults = count > 0 ? { left: count, status } : null
    },
    forgetTombstones() {
      for (const ix of indices.values())
        for (const [id, d] of ix.docs) if (d.source === null) ix.docs.delete(id)
    },
    stats,
    authorizations,
    async stop() {
      if (stopped) return
      stopped = true
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
