import pg from 'pg'
import type { Logger } from 'pino'
import { formatLsn } from './position.js'

/**
 * The streaming-replication protocol inside CopyBoth mode, on a `pg` client in
 * replication mode. We use `pg` directly rather than pg-logical-replication because we
 * must confirm exact LSNs (that library adds 1 to every acknowledged LSN, which could
 * skip a transaction whose commit record starts right at the confirmed end LSN, and its
 * standby timer confirms the last *received* LSN, not the last delivered one).
 *
 * CopyData payloads from the server:
 *   'w' XLogData:  int64 start LSN, int64 end of WAL on server, int64 send time, then the
 *                  output plugin's message (pgoutput bytes).
 *   'k' keepalive: int64 end of WAL on server, int64 send time, byte reply requested.
 * To the server:
 *   'r' standby status update: int64 written, int64 flushed, int64 applied (all "last
 *       byte + 1"; the slot's confirmed_flush_lsn becomes the flushed value), int64 client
 *       time (µs since 2000-01-01), byte reply requested.
 */
const XLOG_DATA = 0x77 // 'w'
const KEEPALIVE = 0x6b // 'k'
const STATUS_UPDATE = 0x72 // 'r'
const XLOG_HEADER = 25
/** Milliseconds between the Unix epoch and the Postgres epoch (2000-01-01). */
const PG_EPOCH_MS = 946_684_800_000

/** Handlers the stream calls; both run synchronously inside the socket's data callback. */
export interface ReplicationHandlers {
  /**
   * One pgoutput message and the WAL position of its record (as a number: exact below
   * 2^53 bytes of WAL); `data` is only valid during the call (the buffer is reused).
   */
  onData(data: Buffer, lsn: number): void
  /** The server's current WAL end, with whether it asks for an immediate reply. */
  onKeepalive(walEnd: bigint, replyRequested: boolean): void
}

/** A logical replication connection streaming one slot. */
export class ReplicationStream {
  private client: pg.Client | null = null
  private ended: Promise<unknown> | null = null
  private paused = false
  private lastStatusAt = 0

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly log: Logger,
  ) {}

  /** Opens the replication connection (`replication=database`). */
  async connect(): Promise<pg.Client> {
    const client = new pg.Client({ ...this.config, replication: 'database' } as pg.ClientConfig)
    client.on('error', (err) => this.log.debug({ err }, 'replication connection error'))
    await client.connect()
    this.client = client
    return client
  }

  /** The connected client (for CREATE_REPLICATION_SLOT etc. before streaming). */
  get connection(): pg.Client {
    if (!this.client) throw new Error('replication stream is not connected')
    return this.client
  }

  /**
   * Starts streaming `slot` from `startLsn` (0 = the slot's confirmed_flush_lsn). Returns a
   * promise that settles when the stream ends (rejects on a server error).
   */
  start(
    slot: string,
    startLsn: bigint,
    pluginOptions: Record<string, string>,
    handlers: ReplicationHandlers,
  ): Promise<unknown> {
    const client = this.connection
    const conn = (client as unknown as { connection: PgConnection }).connection
    conn.on('copyData', (msg: { chunk: Buffer }) => {
      const b = msg.chunk
      const tag = b[0]
      if (tag === XLOG_DATA) {
        handlers.onData(b.subarray(XLOG_HEADER), b.readUInt32BE(1) * 0x1_0000_0000 + b.readUInt32BE(5))
      } else if (tag === KEEPALIVE) {
        handlers.onKeepalive(b.readBigUInt64BE(1), b[17] === 1)
      }
    })
    const opts = Object.entries(pluginOptions)
      .map(([k, v]) => `"${k}" '${v.replace(/'/g, "''")}'`)
      .join(', ')
    const sql = `START_REPLICATION SLOT "${slot}" LOGICAL ${formatLsn(startLsn)} (${opts})`
    this.ended = client.query(sql)
    return this.ended
  }

  /** Stops reading from the socket (back-pressure). Writes, such as status updates, still go out. */
  pause(): void {
    if (this.paused || !this.client) return
    this.paused = true
    ;(this.client as unknown as { connection: PgConnection }).connection.stream.pause()
  }

  /** Resumes reading from the socket. */
  resume(): void {
    if (!this.paused || !this.client) return
    this.paused = false
    ;(this.client as unknown as { connection: PgConnection }).connection.stream.resume()
  }

  get isPaused(): boolean {
    return this.paused
  }

  /** Milliseconds since the last status update was sent. */
  get sinceLastStatus(): number {
    return Date.now() - this.lastStatusAt
  }

  /** Sends a standby status update confirming `flushLsn` (exact: everything before it is done). */
  sendStatus(flushLsn: bigint, replyRequested = false): void {
    if (!this.client) return
    const b = Buffer.alloc(34)
    b[0] = STATUS_UPDATE
    b.writeBigUInt64BE(flushLsn, 1)
    b.writeBigUInt64BE(flushLsn, 9)
    b.writeBigUInt64BE(flushLsn, 17)
    b.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25)
    b[33] = replyRequested ? 1 : 0
    ;(this.client as unknown as { connection: PgConnection }).connection.sendCopyFromChunk(b)
    this.lastStatusAt = Date.now()
  }

  /** Ends the connection; the promise from start() settles. */
  async end(): Promise<void> {
    const c = this.client
    this.client = null
    if (!c) return
    const conn = (c as unknown as { connection: PgConnection }).connection
    try {
      conn.stream.resume()
    } catch {
      // socket already gone
    }
    await c.end().catch(() => {})
    await this.ended?.catch(() => {})
  }
}

interface PgConnection {
  stream: { pause(): void; resume(): void }
  on(event: 'copyData', cb: (msg: { chunk: Buffer }) => void): void
  sendCopyFromChunk(b: Buffer): void
}
