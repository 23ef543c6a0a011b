import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { AdminError } from './errors.js'
import type { AdminMetrics } from './metrics.js'
import type { PipelineHandle } from './pipelines.js'
import { createRedactor, type Redactor } from './redact.js'
import { jsonError, route, type Reply } from './routes.js'

/** Admin server settings (config `admin`, plus what the process provides). */
export interface AdminServerOptions {
  readonly host: string
  /** 0: any free port (the bound address is logged and returned by start()). */
  readonly port: number
  /** When set, every route but /healthz needs `Authorization: Bearer <token>` (or Basic with it as the password). */
  readonly token?: string | undefined
  readonly pipelines: readonly PipelineHandle[]
  readonly metrics: AdminMetrics
  /** Values to mask in every response (interpolated secrets); the token is added. */
  readonly secrets: readonly string[]
  readonly log: Logger
}

/** Routes open without the token: orchestrator liveness probes carry no credentials. */
const OPEN_PATHS = new Set(['/healthz'])

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

/**
 * The admin HTTP API (node:http): health, readiness, Prometheus metrics, pipeline status,
 * pause/resume and the status page. Bound to 127.0.0.1 unless configured otherwise. Every
 * response body passes through the redactor, so secrets never leave the process here.
 */
export class AdminServer {
  private server: Server | null = null
  private readonly redact: Redactor
  private readonly tokenHash: Buffer | null

  constructor(private readonly opts: AdminServerOptions) {
    this.redact = createRedactor([...opts.secrets, ...(opts.token ? [opts.token] : [])])
    this.tokenHash = opts.token ? sha256(opts.token) : null
  }

  /** Starts listening; resolves with the base URL (`http://127.0.0.1:PORT`). */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.log.error({ err }, 'admin request failed')
        if (!res.headersSent)
          this.send(res, req.method ?? 'GET', jsonError(500, 'internal', 'internal error'))
        else res.destroy()
      })
    })
    // Keep-alive sockets of a browser must not hold up a stop.
    server.keepAliveTimeout = 5_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new AdminError(
            'ADMIN_LISTEN_FAILED',
            `cannot serve the admin API on ${this.opts.host}:${this.opts.port} (${err.code ?? err.message}): ` +
              (err.code === 'EADDRINUSE'
                ? 'the port is in use; choose another admin.port (0: any free port) or stop the other process'
                : 'check admin.host is an address of this machine and admin.port is allowed'),
            { cause: err },
          ),
        ),
      )
      server.listen(this.opts.port, this.opts.host, () => resolve())
    })
    this.server = server
    const url = this.url
    this.opts.log.info({ address: url, auth: this.tokenHash ? 'token' : 'none' }, 'admin API listening')
    return url
  }

  /** The base URL of the bound address. */
  get url(): string {
    const addr = this.server?.address() as AddressInfo | null
    if (!addr) throw new Error('admin server is not listening')
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    return `http://${host}:${addr.port}`
  }

  /** Stops accepting requests and closes open connections. */
  async stop(): Promise<void> {
    const server = this.server
    this.server = null
    if (!server) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    const path = new URL(req.url ?? '/', 'http://admin').pathname
    if (!OPEN_PATHS.has(path) && !this.authorized(req)) {
      // A browser opening the page gets a login prompt (Basic, the token as password).
      const scheme = path === '/' ? 'Basic realm="sluice", charset="UTF-8"' : 'Bearer realm="sluice"'
      this.send(res, method, {
        ...jsonError(
          401,
          'unauthorized',
          'this admin API needs the token: send Authorization: Bearer <admin.token>',
        ),
        headers: { 'content-type': 'application/json; charset=utf-8', 'www-authenticate': scheme },
      })
      return
    }
    if (method === 'POST' && !this.sameOrigin(req)) {
      this.send(res, method, jsonError(403, 'cross_origin', 'cross-origin requests may not change pipelines'))
      return
    }
    let reply: Reply
    try {
      reply = await route(method, path, {
        pipelines: this.opts.pipelines,
        metrics: this.opts.metrics,
        redact: this.redact,
      })
    } catch (err) {
      if (err instanceof URIError)
        reply = jsonError(400, 'bad_request', 'malformed percent-encoding in the path')
      else throw err
    }
    this.send(res, method, reply)
  }

  /** Constant-time comparison of the presented token (Bearer, or the Basic password) with the configured one. */
  private authorized(req: IncomingMessage): boolean {
    if (!this.tokenHash) return true
    const header = req.headers.authorization ?? ''
    const space = header.indexOf(' ')
    if (space < 0) return false
    const scheme = header.slice(0, space).toLowerCase()
    const value = header.slice(space + 1).trim()
    let presented: string
    if (scheme === 'bearer') presented = value
    else if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8')
      presented = decoded.slice(decoded.indexOf(':') + 1)
    } else return false
    return timingSafeEqual(sha256(presented), this.tokenHash)
  }

  /**
   * Pausing a pipeline is a state change, so a web page on another origin must not trigger it
   * through the user's browser (CSRF against a localhost API): an `Origin` header, which
   * browsers send on cross-origin POSTs, must name this server's own host.
   */
  private sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin
    if (origin === undefined) return true
    try {
      return new URL(origin).host === req.headers.host
    } catch {
      return false
    }
  }

  private send(res: ServerResponse, method: string, reply: Reply): void {
    const body = this.redact(reply.body)
    res.writeHead(reply.status, {
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
      ...reply.headers,
      'content-length': Buffer.byteLength(body),
    })
    res.end(method === 'HEAD' ? undefined : body)
  }
}
