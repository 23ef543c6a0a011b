import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import avro from 'avsc'

/** A Schema Registry for tests: the in-test fake, or a real one from SCHEMA_REGISTRY_URL. */
export interface RegistryServer {
  readonly url: string
  /** True for the fake (whose request log and state tests may inspect). */
  readonly fake: boolean
  /** `Authorization` headers the fake received (empty for a real registry). */
  readonly authHeaders: string[]
  /** Number of register (POST) calls the fake answered, per subject. */
  readonly registrations: Map<string, number>
  stop(): Promise<void>
}

interface Version {
  readonly id: number
  readonly version: number
  readonly schema: string
}

const CT = 'application/vnd.schemaregistry.v1+json'

/**
 * An in-test HTTP fake of the Confluent Schema Registry with the semantics Sluice relies on:
 * subjects with versions, global ids shared by equal schemas, lookup by id, and the default
 * BACKWARD compatibility rule (the new schema must be able to read data written with the
 * latest registered one: avsc's resolver decides), answered with 409 when broken. With
 * `auth`, every request needs that basic-auth user and password (401 otherwise). With
 * SCHEMA_REGISTRY_URL set, that registry is used instead, unless `fake` is true.
 */
export async function startRegistry(
  opts: { auth?: { user: string; password: string }; fake?: boolean } = {},
): Promise<RegistryServer> {
  const real = process.env.SCHEMA_REGISTRY_URL
  if (real && !opts.fake) {
    return { url: real, fake: false, authHeaders: [], registrations: new Map(), stop: async () => {} }
  }
  const subjects = new Map<string, Version[]>()
  const byId = new Map<number, string>()
  const idOf = new Map<string, number>()
  const authHeaders: string[] = []
  const registrations = new Map<string, number>()
  const expected = opts.auth
    ? 'Basic ' + Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')
    : null

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': CT })
    res.end(JSON.stringify(body))
  }
  const parse = (s: string): avro.Type => avro.Type.forSchema(JSON.parse(s) as avro.Schema)

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.headers.authorization) authHeaders.push(req.headers.authorization)
    if (expected && req.headers.authorization !== expected) {
      send(res, 401, { error_code: 401, message: 'Unauthorized' })
      return
    }
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const path = decodeURI(new URL(req.url ?? '/', 'http://x').pathname)
    let m: RegExpExecArray | null
    if (req.method === 'POST' && (m = /^\/subjects\/([^/]+)\/versions$/.exec(path))) {
      const subject = m[1]!
      registrations.set(subject, (registrations.get(subject) ?? 0) + 1)
      const schema = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { schema: string }).schema
      let type: avro.Type
      try {
        type = parse(schema)
      } catch (err) {
        send(res, 422, { error_code: 42201, message: `Invalid schema: ${(err as Error).message}` })
        return
      }
      const versions = subjects.get(subject) ?? []
      const same = versions.find((v) => v.schema === schema)
      if (same) {
        send(res, 200, { id: same.id })
        return
      }
      const latest = versions.at(-1)
      if (latest) {
        try {
          type.createResolver(parse(latest.schema)) // BACKWARD: new reads old
        } catch (err) {
          send(res, 409, {
            error_code: 409,
            message:
              `Schema being registered is incompatible with an earlier schema for subject "${subject}"; ` +
              `details: ${(err as Error).message}`,
          })
          return
        }
      }
      let id = idOf.get(schema)
      if (id === undefined) {
        id = idOf.size + 1
        idOf.set(schema, id)
        byId.set(id, schema)
      }
      versions.push({ id, version: versions.length + 1, schema })
      subjects.set(subject, versions)
      send(res, 200, { id })
      return
    }
    if (req.method === 'GET' && (m = /^\/subjects\/([^/]+)\/versions\/(latest|\d+)$/.exec(path))) {
      const versions = subjects.get(m[1]!)
      const v = m[2] === 'latest' ? versions?.at(-1) : versions?.[Number(m[2]) - 1]
      if (!v) send(res, 404, { error_code: 40401, message: 'Subject not found.' })
      else send(res, 200, { subject: m[1], ...v })
      return
    }
    if (req.method === 'GET' && (m = /^\/subjects\/([^/]+)\/versions$/.exec(path))) {
      const versions = subjects.get(m[1]!)
      if (!versions) send(res, 404, { error_code: 40401, message: 'Subject not found.' })
      else
        send(
          res,
          200,
          versions.map((v) => v.version),
        )
      return
    }
    if (req.method === 'GET' && path === '/subjects') {
      send(res, 200, [...subjects.keys()])
      return
    }
    if (req.method === 'GET' && (m = /^\/schemas\/ids\/(\d+)$/.exec(path))) {
      const schema = byId.get(Number(m[1]))
      if (!schema) send(res, 404, { error_code: 40403, message: 'Schema not found' })
      else send(res, 200, { schema })
      return
    }
    send(res, 404, { error_code: 404, message: 'HTTP 404 Not Found' })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { error_code: 500, message: String(err) }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    fake: true,
    authHeaders,
    registrations,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
