import { SinkError } from '../../pipeline/errors.js'

/**
 * A small client of the Confluent Schema Registry REST API, on fetch. The usual package
 * (`@kafkajs/confluent-schema-registry`) is not a dependency: Sluice needs four calls
 * (register, latest version, schema by id, and nothing else), and this keeps the
 * credentials and the error mapping under our control.
 *
 *   POST /subjects/{subject}/versions   {"schema": "<json>"}  → {"id": n}   (409: incompatible)
 *   GET  /subjects/{subject}/versions/latest                  → {"id", "version", "schema"}
 *   GET  /schemas/ids/{id}                                     → {"schema": "<json>"}
 */
export const REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json'

/** Confluent wire format: magic byte 0, then the schema id as a 4-byte big-endian int. */
export const WIRE_MAGIC = 0
/** Length of the Confluent wire-format header. */
export const WIRE_HEADER = 5

/** Options of RegistryClient. */
export interface RegistryOptions {
  /** Base URL; `user:pass@` in it is taken as basic-auth credentials and removed. */
  readonly url: string
  readonly username?: string
  readonly password?: string
  /** Per-request timeout (ms). */
  readonly timeoutMs?: number
}

/** The latest registered version of a subject. */
export interface SubjectVersion {
  readonly id: number
  readonly version: number
  readonly schema: string
}

/** A 409 from the registry: the schema breaks the subject's compatibility rule. */
export class IncompatibleSchemaError extends Error {
  constructor(
    readonly subject: string,
    message: string,
  ) {
    super(message)
  }
}

/** Thrown by RegistryClient for every failure but 409; never includes credentials. */
export function registryError(
  what: string,
  status: number | null,
  detail: string,
  cause?: unknown,
): SinkError {
  const retriable = status === null || status >= 500 || status === 429
  const auth = status === 401 || status === 403
  return new SinkError(
    auth ? 'KAFKA_REGISTRY_AUTH' : 'KAFKA_REGISTRY_FAILED',
    `schema registry ${what} failed (${status === null ? 'no response' : `HTTP ${status}`}): ${detail}` +
      (auth ? '; check registry_username / registry_password' : ''),
    { cause, retriable },
  )
}

/** Confluent-compatible Schema Registry client with id caching. */
export class RegistryClient {
  /** The URL without credentials: safe to log. */
  readonly url: string
  private readonly auth: string | null
  private readonly timeoutMs: number
  private readonly ids = new Map<string, number>()
  private readonly schemas = new Map<number, string>()

  constructor(opts: RegistryOptions) {
    const u = new URL(opts.url)
    const user = opts.username ?? decodeURIComponent(u.username)
    const pass = opts.password ?? decodeURIComponent(u.password)
    u.username = ''
    u.password = ''
    this.url = u.toString().replace(/\/+$/, '')
    this.auth = user || pass ? 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64') : null
    this.timeoutMs = opts.timeoutMs ?? 30_000
  }

  /** Registers `schema` (JSON text) under `subject`, or finds it; returns its global id. Cached. */
  async register(subject: string, schema: string): Promise<number> {
    const k = `${subject}\u0000${schema}`
    const hit = this.ids.get(k)
    if (hit !== undefined) return hit
    const res = await this.request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema })
    if (res.status === 409) {
      throw new IncompatibleSchemaError(subject, res.message ?? 'incompatible schema')
    }
    const id = (res.body as { id?: unknown } | null)?.id
    if (res.status !== 200 || typeof id !== 'number') {
      throw registryError(`registering subject ${subject}`, res.status, res.message ?? 'unexpected answer')
    }
    this.ids.set(k, id)
    this.schemas.set(id, schema)
    return id
  }

  /** The latest version of `subject`; null when the subject does not exist. */
  async latest(subject: string): Promise<SubjectVersion | null> {
    const res = await this.request('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`)
    if (res.status === 404) return null
    const b = res.body as Partial<SubjectVersion> | null
    if (res.status !== 200 || !b || typeof b.schema !== 'string' || typeof b.id !== 'number') {
      throw registryError(`reading subject ${subject}`, res.status, res.message ?? 'unexpected answer')
    }
    return { id: b.id, version: b.version ?? 0, schema: b.schema }
  }

  /** The schema (JSON text) with global id `id`. Cached. */
  async schemaById(id: number): Promise<string> {
    const hit = this.schemas.get(id)
    if (hit !== undefined) return hit
    const res = await this.request('GET', `/schemas/ids/${id}`)
    const schema = (res.body as { schema?: unknown } | null)?.schema
    if (res.status !== 200 || typeof schema !== 'string') {
      throw registryError(`reading schema id ${id}`, res.status, res.message ?? 'unexpected answer')
    }
    this.schemas.set(id, schema)
    return schema
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown; message: string | null }> {
    const headers: Record<string, string> = { accept: REGISTRY_CONTENT_TYPE }
    if (body !== undefined) headers['content-type'] = REGISTRY_CONTENT_TYPE
    if (this.auth) headers.authorization = this.auth
    let res: Response
    try {
      res = await fetch(this.url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      throw registryError(`${method} ${this.url}${path}`, null, cause?.code ?? (err as Error).name, err)
    }
    const text = await res.text()
    let parsed: unknown
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      parsed = null // a proxy's HTML error page: keep the status, show the text
    }
    const detail = (parsed as { message?: unknown } | null)?.message
    const message = res.ok ? null : typeof detail === 'string' ? detail : text.slice(0, 300) || null
    return { status: res.status, body: parsed, message }
  }
}

/** Writes the 5-byte Confluent header for schema `id` at `buf[pos]`. */
export function writeWireHeader(buf: Buffer, pos: number, id: number): number {
  buf[pos] = WIRE_MAGIC
  buf.writeUInt32BE(id, pos + 1)
  return pos + WIRE_HEADER
}
