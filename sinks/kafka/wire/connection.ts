import net from 'node:net'
import { Reader, requestHeader, Writer } from './protocol.js'

/** A failure of the connection itself (refused, reset, timed out): always retriable. */
export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly broker: string,
  ) {
    super(`${broker}: ${message}`)
    this.name = 'ConnectionError'
  }
}

interface Pending {
  readonly correlationId: number
  resolve(body: Buffer): void
  reject(err: Error): void
  timer: NodeJS.Timeout | null
}

/**
 * One TCP connection to one broker. Requests are written in order and Kafka answers them in
 * order on a connection, so responses are matched to the oldest pending request (and checked
 * by correlation id). A request timeout or a socket error destroys the connection and fails
 * every pending request: a later request needs a new connection.
 */
export class Connection {
  private socket: net.Socket | null = null
  private connecting: Promise<void> | null = null
  private readonly pending: Pending[] = []
  private nextId = 1
  private chunks: Buffer[] = []
  private buffered = 0
  private dead: Error | null = null

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly clientId: string,
    private readonly connectTimeoutMs: number,
    private readonly requestTimeoutMs: number,
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`
  }

  /** Whether the connection has failed or was closed (a new one is needed). */
  get broken(): boolean {
    return this.dead !== null
  }

  connect(): Promise<void> {
    this.connecting ??= new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true })
      const timer = setTimeout(() => {
        this.fail(new ConnectionError(`connection timed out after ${this.connectTimeoutMs} ms`, this.address))
        reject(this.dead)
      }, this.connectTimeoutMs)
      socket.once('connect', () => {
        clearTimeout(timer)
        resolve()
      })
      socket.on('error', (err) => {
        clearTimeout(timer)
        this.fail(new ConnectionError(err.message, this.address))
        reject(this.dead)
      })
      socket.on('close', () => {
        clearTimeout(timer)
        this.fail(new ConnectionError('connection closed', this.address))
        reject(this.dead)
      })
      socket.on('data', (d: Buffer) => this.onData(d))
      this.socket = socket
    })
    return this.connecting
  }

  /** Sends one request (header + body parts); resolves with the response body after its correlation id. */
  async request(
    api: number,
    version: number,
    body: readonly Buffer[],
    timeoutMs = this.requestTimeoutMs,
  ): Promise<Reader> {
    if (this.dead) throw this.dead
    await this.connect()
    if (this.dead) throw this.dead
    const correlationId = this.nextId++ & 0x7fffffff
    const head = new Writer(64)
    head.int32(0)
    requestHeader(head, api, version, correlationId, this.clientId)
    let size = head.pos - 4
    for (const b of body) size += b.length
    const headBytes = head.bytes()
    headBytes.writeInt32BE(size, 0)
    const socket = this.socket!
    const response = new Promise<Buffer>((resolve, reject) => {
      const p: Pending = { correlationId, resolve, reject, timer: null }
      p.timer = setTimeout(() => {
        this.fail(new ConnectionError(`request timed out after ${timeoutMs} ms`, this.address))
      }, timeoutMs)
      this.pending.push(p)
    })
    socket.cork()
    socket.write(headBytes)
    for (const b of body) socket.write(b)
    socket.uncork()
    return new Reader(await response)
  }

  private onData(d: Buffer): void {
    this.chunks.push(d)
    this.buffered += d.length
    while (this.buffered >= 4) {
      let head = this.chunks[0]!
      if (head.length < 4) {
        head = Buffer.concat(this.chunks)
        this.chunks = [head]
      }
      const size = head.readInt32BE(0)
      if (this.buffered < 4 + size) return
      if (head.length < 4 + size) {
        head = Buffer.concat(this.chunks)
        this.chunks = [head]
      }
      const frame = head.subarray(4, 4 + size)
      const rest = head.subarray(4 + size)
      this.chunks[0] = rest
      if (rest.length === 0) this.chunks.shift()
      this.buffered -= 4 + size
      const p = this.pending.shift()
      if (!p || frame.readInt32BE(0) !== p.correlationId) {
        this.fail(
          new ConnectionError('response does not match the pending request (protocol error)', this.address),
        )
        return
      }
      if (p.timer) clearTimeout(p.timer)
      p.resolve(frame.subarray(4))
    }
  }

  private fail(err: Error): void {
    if (!this.dead) this.dead = err
    this.socket?.destroy()
    for (const p of this.pending.splice(0)) {
      if (p.timer) clearTimeout(p.timer)
      p.reject(this.dead)
    }
  }

  close(): void {
    this.fail(new ConnectionError('connection closed by the client', this.address))
  }
}
