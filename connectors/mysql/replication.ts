import { createHash } from 'node:crypto'
import { hostname } from 'node:os'
import mysql from 'mysql2'
import type { Logger } from 'pino'
import { PreconditionError, SourceError, type SluiceError } from '../../pipeline/errors.js'
import { classifyMysqlError, redactUrl } from './errors.js'

/**
 * The binlog transport: one mysql2 connection that negotiates checksums and capabilities,
 * optionally registers as a replica, asks for a binlog dump (by file/position or by GTID)
 * and hands every event's raw bytes to a handler. Decoding events (and verifying their
 * CRC32) is the decoder's job (connectors/mysql/binlog/).
 *
 * mysql2's own binlog stream is unusable (it throws on the file name and on ROTATE, and
 * never exposes raw bytes), so the dump runs as a duck-typed command on mysql2's
 * `addCommand` hook, which feeds the command every incoming packet. After the dump request
 * each packet is one of:
 *   0x00 OK  + one binlog event (19-byte header, body, 4-byte CRC32 when enabled);
 *   0xFE EOF (payload < 9 bytes): the end of the binlog, sent only for a non-blocking dump;
 *   0xFF ERR int<2> errno, '#' + 5-byte SQLSTATE, message.
 * mysql2 reassembles events larger than 16 MiB from several protocol packets.
 */

/** Command bytes (first byte of a command packet; mysql2's `constants/commands`). */
export const Command = {
  /** COM_BINLOG_DUMP: int<4> pos, int<2> flags, int<4> server_id, string[EOF] file. */
  BINLOG_DUMP: 0x12,
  /** COM_REGISTER_SLAVE (the internals docs wrongly say 0x14). */
  REGISTER_SLAVE: 0x15,
  /** COM_BINLOG_DUMP_GTID (MySQL 5.6+ only; MariaDB answers 1047 Unknown command). */
  BINLOG_DUMP_GTID: 0x1e,
} as const

/** COM_BINLOG_DUMP / COM_BINLOG_DUMP_GTID flags. */
export const DumpFlag = {
  /** BINLOG_DUMP_NON_BLOCK: send EOF at the end of the binlog instead of waiting. */
  NON_BLOCK: 0x01,
  /**
   * MariaDB BINLOG_SEND_ANNOTATE_ROWS_EVENT: send ANNOTATE_ROWS (160, the statement text).
   * For COM_BINLOG_DUMP_GTID on MySQL this bit is BINLOG_THROUGH_POSITION instead.
   */
  SEND_ANNOTATE_ROWS: 0x02,
  /** COM_BINLOG_DUMP_GTID: the request carries a GTID set (BINLOG_THROUGH_GTID). */
  THROUGH_GTID: 0x04,
} as const

/** Packet markers (first payload byte). */
const OK = 0x00
const EOF = 0xfe
const ERR = 0xff
/** An EOF packet's payload is shorter than this; a longer 0xFE packet is data. */
const EOF_MAX_PAYLOAD = 9
const SQLSTATE_MARKER = 0x23 // '#'

/** Binlog common header (v4): timestamp u32, type u8, server_id u32, size u32, end_log_pos u32, flags u16. */
export const EVENT_HEADER_SIZE = 19
const HEADER_TYPE = 4
const HEADER_SIZE = 9
/** FORMAT_DESCRIPTION_EVENT: its body ends with the checksum algorithm byte and a CRC32. */
const FORMAT_DESCRIPTION_EVENT = 15
/** binlog_checksum algorithm bytes in the FDE. */
const CHECKSUM_ALG_OFF = 0
const CHECKSUM_ALG_CRC32 = 1
/** Position of the first event in every binlog file (after the 4-byte magic). */
export const BINLOG_FIRST_EVENT = 4
/** Capability 4 (MARIA_SLAVE_CAPABILITY_GTID): native GTID events instead of BEGIN/dummies. */
const MARIADB_SLAVE_CAPABILITY_GTID = 4
const NS_PER_MS = 1_000_000n

/** Which server family is on the other end. */
export type Flavour = 'mariadb' | 'mysql'

/** Binlog checksum algorithm. */
export type ChecksumAlgorithm = 'CRC32' | 'NONE'

/** Where a dump starts. */
export type BinlogStart =
  /** A file and the offset of an event in it (4 = the file's first event). */
  | { readonly file: string; readonly position: number }
  /**
   * A GTID state: stream transactions after it. MariaDB: a `domain-server-seq` list
   * (`0-1-58,1-2-7`); MySQL: a GTID set (`3e11fa47-...:1-5`).
   */
  | { readonly gtid: string }

/** Binlog coordinates as SHOW MASTER STATUS reports them. */
export interface BinlogCoordinates {
  readonly file: string
  readonly position: number
  /** MariaDB `@@gtid_binlog_pos` or MySQL `Executed_Gtid_Set` ('' when off). */
  readonly gtid: string
}

/** Options of a binlog stream. */
export interface BinlogStreamOptions {
  /** `mysql://user:password@host:port/db`. */
  readonly url: string
  /** Replica server_id: unique per server among replicas and pipelines. */
  readonly serverId: number
  /** Server heartbeat period on an idle binlog (0: none). */
  readonly heartbeatMs?: number
  /**
   * No packet for this long while not paused fails the stream with MYSQL_CONNECTION_LOST
   * (catches half-open connections). Default 3 heartbeats; 0 (the default without
   * heartbeats) disables it.
   */
  readonly idleTimeoutMs?: number
  /** Send COM_REGISTER_SLAVE first, so the stream shows in SHOW SLAVE HOSTS. */
  readonly register?: boolean
  /** Stop with EOF at the end of the binlog instead of waiting for more. */
  readonly nonBlocking?: boolean
  /** MariaDB: also send ANNOTATE_ROWS events (the SQL text of row events). */
  readonly annotateRows?: boolean
  /** MySQL: `@replica_uuid` of this replica; default derived from serverId. */
  readonly replicaUuid?: string
  readonly log?: Logger
}

/** Receives the stream. */
export interface BinlogHandlers {
  /**
   * One binlog event (header, body and checksum, exactly `event_size` bytes), in binlog
   * order. The buffer is a copy the callee owns. Called synchronously from the socket's
   * data callback; call pause() to stop further calls until resume().
   */
  onEvent(event: Buffer): void
}

/** What the stream learned when it connected. */
export interface BinlogServerInfo {
  readonly flavour: Flavour
  readonly version: string
  /** The server's `@@global.binlog_checksum`, declared to it as what we handle. */
  readonly checksum: ChecksumAlgorithm
  /** Connection id of the binlog connection (KILL target, processlist). */
  readonly threadId: number
}

/** The part of mysql2's (untyped) command machinery the dump command uses. */
interface HookedConnection extends mysql.Connection {
  addCommand(cmd: DumpCommand): unknown
  _resetSequenceId(): void
}

/** An incoming packet as mysql2 hands it to a command: the payload is buffer[start+4, end). */
interface IncomingPacket {
  readonly buffer: Buffer
  readonly start: number
  readonly end: number
}

/** An outgoing packet in the shape mysql2's writePacket() wants: 4 header bytes, then the payload. */
class OutgoingPacket {
  readonly buffer: Buffer
  constructor(payload: Buffer) {
    this.buffer = Buffer.alloc(4 + payload.length)
    payload.copy(this.buffer, 4)
  }
  length(): number {
    return this.buffer.length
  }
  writeHeader(sequenceId: number): void {
    this.buffer.writeUIntLE(this.buffer.length - 4, 0, 3)
    this.buffer[3] = sequenceId
  }
}

const u32 = (n: number, what: string): number => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError(`${what} ${n} is not a u32`)
  return n
}

/** COM_BINLOG_DUMP payload: 0x12, int<4> pos, int<2> flags, int<4> server_id, string[EOF] file. */
export function encodeBinlogDump(p: {
  position: number
  flags: number
  serverId: number
  file: string
}): Buffer {
  const name = Buffer.from(p.file, 'utf8')
  const b = Buffer.alloc(11 + name.length)
  b[0] = Command.BINLOG_DUMP
  b.writeUInt32LE(u32(p.position, 'binlog position'), 1)
  b.writeUInt16LE(p.flags, 5)
  b.writeUInt32LE(u32(p.serverId, 'server_id'), 7)
  name.copy(b, 11)
  return b
}

/**
 * COM_BINLOG_DUMP_GTID payload (MySQL): 0x1e, int<2> flags, int<4> server_id,
 * int<4> file name length, file name, int<8> position, then with THROUGH_GTID:
 * int<4> data length and the encoded GTID set (encodeGtidSet).
 */
export function encodeBinlogDumpGtid(p: {
  flags: number
  serverId: number
  file: string
  position: number
  gtidSet: string
}): Buffer {
  const name = Buffer.from(p.file, 'utf8')
  const flags = p.flags | DumpFlag.THROUGH_GTID
  const data = encodeGtidSet(p.gtidSet)
  const b = Buffer.alloc(1 + 2 + 4 + 4 + name.length + 8 + 4 + data.length)
  let o = 0
  b[o++] = Command.BINLOG_DUMP_GTID
  o = b.writeUInt16LE(flags, o)
  o = b.writeUInt32LE(u32(p.serverId, 'server_id'), o)
  o = b.writeUInt32LE(name.length, o)
  o += name.copy(b, o)
  o = b.writeBigUInt64LE(BigInt(p.position), o)
  o = b.writeUInt32LE(data.length, o)
  data.copy(b, o)
  return b
}

/**
 * MySQL's binary GTID set (Gtid_set::encode): int<8> number of SIDs, then per SID (in
 * UUID order) the 16 UUID bytes, int<8> number of intervals and each interval as
 * int<8> start, int<8> end (exclusive: last + 1). All little-endian. Accepts
 * `uuid:1-5:7,uuid2:3` with any whitespace; tagged GTIDs (MySQL 8.3+) are not supported.
 */
export function encodeGtidSet(text: string): Buffer {
  const sids = new Map<string, [bigint, bigint][]>()
  for (const part of text.replace(/\s+/g, '').split(',')) {
    if (part === '') continue
    const [uuid, ...ranges] = part.split(':')
    const hex = (uuid ?? '').replace(/-/g, '').toLowerCase()
    if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`invalid GTID set '${text}': bad server uuid '${uuid}'`)
    if (ranges.length === 0) throw new Error(`invalid GTID set '${text}': '${part}' has no intervals`)
    const list = sids.get(hex) ?? []
    for (const r of ranges) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(r)
      if (!m)
        throw new Error(
          `invalid GTID set '${text}': '${r}' is not an interval (tagged GTIDs are not supported)`,
        )
      const start = BigInt(m[1]!)
      const last = BigInt(m[2] ?? m[1]!)
      if (start < 1n || last < start) throw new Error(`invalid GTID set '${text}': bad interval '${r}'`)
      list.push([start, last + 1n])
    }
    sids.set(hex, list)
  }
  const keys = [...sids.keys()].sort()
  let size = 8
  for (const k of keys) size += 16 + 8 + 16 * sids.get(k)!.length
  const b = Buffer.alloc(size)
  let o = b.writeBigUInt64LE(BigInt(keys.length), 0)
  for (const k of keys) {
    o += Buffer.from(k, 'hex').copy(b, o)
    const list = sids.get(k)!.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
    o = b.writeBigUInt64LE(BigInt(list.length), o)
    for (const [s, e] of list) {
      o = b.writeBigUInt64LE(s, o)
      o = b.writeBigUInt64LE(e, o)
    }
  }
  return b
}

/**
 * COM_REGISTER_SLAVE payload: 0x15, int<4> server_id, int<1> + hostname, int<1> + user,
 * int<1> + password, int<2> port, int<4> replication rank (ignored), int<4> master id (0).
 * The host/user/password/port are only reported (SHOW SLAVE HOSTS), never used to connect.
 */
export function encodeRegisterSlave(p: {
  serverId: number
  hostname: string
  user: string
  password: string
  port: number
}): Buffer {
  const strs = [p.hostname, p.user, p.password].map((s) => Buffer.from(s, 'utf8'))
  for (const s of strs)
    if (s.length > 255) throw new RangeError('register slave strings are at most 255 bytes')
  const b = Buffer.alloc(1 + 4 + strs.reduce((n, s) => n + 1 + s.length, 0) + 2 + 4 + 4)
  let o = 0
  b[o++] = Command.REGISTER_SLAVE
  o = b.writeUInt32LE(u32(p.serverId, 'server_id'), o)
  for (const s of strs) {
    b[o++] = s.length
    o += s.copy(b, o)
  }
  o = b.writeUInt16LE(p.port & 0xffff, o)
  o = b.writeUInt32LE(0, o)
  b.writeUInt32LE(0, o)
  return b
}

/** A server error from an ERR packet payload (0xFF int<2> errno ['#' sqlstate<5>] message). */
export function parseErrPacket(payload: Buffer): Error & { errno: number; sqlState: string } {
  const errno = payload.readUInt16LE(1)
  let o = 3
  let sqlState = ''
  if (payload[o] === SQLSTATE_MARKER) {
    sqlState = payload.toString('latin1', o + 1, o + 6)
    o += 6
  }
  return Object.assign(new Error(payload.toString('utf8', o)), { errno, sqlState })
}

/** A stable UUID for a MySQL replica from its server_id (so restarts look like the same replica). */
function uuidFor(serverId: number): string {
  const h = createHash('sha1').update(`sluice-replica:${serverId}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

type Settle = { resolve: () => void; reject: (e: SluiceError) => void }

/**
 * The duck-typed mysql2 command. mysql2 calls execute() first with no packet (our turn to
 * write) and then once per incoming packet; returning true ends the command. onResult is
 * how mysql2 reports a connection error to the running command.
 */
class DumpCommand {
  private state: 'start' | 'register' | 'dump' | 'done' = 'start'

  constructor(
    private readonly register: Buffer | null,
    private readonly dump: Buffer,
    private readonly onPayload: (payload: Buffer) => boolean,
    readonly onResult: (err: Error) => void,
  ) {}

  execute(packet: IncomingPacket | undefined, connection: HookedConnection): boolean {
    if (this.state === 'done') return true
    if (!packet) {
      connection._resetSequenceId()
      this.state = this.register ? 'register' : 'dump'
      connection.writePacket(new OutgoingPacket(this.register ?? this.dump))
      return false
    }
    const payload = packet.buffer.subarray(packet.start + 4, packet.end)
    if (this.state === 'register') {
      if (payload[0] === ERR) return this.finish(payload)
      // OK: the registration is a finished command; the dump is a new one (sequence 0).
      connection._resetSequenceId()
      this.state = 'dump'
      connection.writePacket(new OutgoingPacket(this.dump))
      return false
    }
    return this.finish(payload)
  }

  private finish(payload: Buffer): boolean {
    const done = this.onPayload(payload)
    if (done) this.state = 'done'
    return done
  }
}

/**
 * A binlog dump on its own connection. Lifecycle: connect() (negotiates), optionally
 * query() / currentPosition() for control statements, then start() once. The connection
 * is busy while streaming; other statements need another connection.
 *
 * Errors are SluiceErrors (connectors/mysql/errors.ts): a retriable one
 * (MYSQL_CONNECTION_LOST: server restart, killed connection, dead link) means "connect a
 * new BinlogStream and start it from the last position you processed"; a permanent one
 * (MYSQL_BINLOG_PURGED, MYSQL_DUPLICATE_SERVER_ID, ...) means reconnecting will not help.
 */
export class BinlogStream {
  private conn: HookedConnection | null = null
  private info: BinlogServerInfo | null = null
  private paused = false
  private settle: Settle | null = null
  private idleTimer: NodeJS.Timeout | null = null
  private lastPacketAt = 0
  private fdeChecksum: ChecksumAlgorithm | null = null
  private readonly where: string

  constructor(private readonly opts: BinlogStreamOptions) {
    this.where = redactUrl(opts.url)
    u32(opts.serverId, 'server_id')
  }

  /** Opens the connection, detects the flavour and declares checksum, capability and heartbeat. */
  async connect(): Promise<BinlogServerInfo> {
    const uri = this.opts.url.replace(/^mariadb:/, 'mysql:')
    const conn = mysql.createConnection({ uri }) as HookedConnection
    conn.on('error', (err) => this.opts.log?.debug({ err }, 'binlog connection error'))
    try {
      await new Promise<void>((resolve, reject) => {
        conn.once('connect', () => resolve())
        conn.once('error', reject)
      })
      this.conn = conn
      const [row] = await this.query<{ version: string; checksum: string }>(
        'SELECT VERSION() AS version, @@global.binlog_checksum AS checksum',
      )
      const flavour: Flavour = /mariadb/i.test(row!.version) ? 'mariadb' : 'mysql'
      const checksum: ChecksumAlgorithm = String(row!.checksum).toUpperCase() === 'CRC32' ? 'CRC32' : 'NONE'
      // Both names: MariaDB knows only master_*, MySQL 8.0.26+ prefers source_*; the other
      // is just an unused user variable. Without it a server logging CRC32 refuses to
      // stream (1236 "slave can not handle replication events with the checksum...").
      await this.query(
        'SET @master_binlog_checksum = @@global.binlog_checksum, @source_binlog_checksum = @@global.binlog_checksum',
      )
      if (flavour === 'mariadb') {
        await this.query(`SET @mariadb_slave_capability = ${MARIADB_SLAVE_CAPABILITY_GTID}`)
      } else {
        const uuid = this.opts.replicaUuid ?? uuidFor(this.opts.serverId)
        await this.query('SET @slave_uuid = ?, @replica_uuid = ?', [uuid, uuid])
      }
      const hb = this.opts.heartbeatMs ?? 0
      if (hb > 0) {
        const ns = (BigInt(Math.round(hb)) * NS_PER_MS).toString()
        await this.query(`SET @master_heartbeat_period = ${ns}, @source_heartbeat_period = ${ns}`)
      }
      this.info = { flavour, version: row!.version, checksum, threadId: conn.threadId }
      return this.info
    } catch (err) {
      this.conn = null
      conn.destroy()
      throw classifyMysqlError(err, this.where)
    }
  }

  /** What connect() learned. */
  get server(): BinlogServerInfo {
    if (!this.info) throw new Error('binlog stream is not connected')
    return this.info
  }

  /**
   * The checksum algorithm of the events after the most recent FORMAT_DESCRIPTION event
   * (its algorithm byte), or null before the first one; events before it (the artificial
   * ROTATE) use `server.checksum`.
   */
  get eventChecksum(): ChecksumAlgorithm | null {
    return this.fdeChecksum
  }

  /** Runs a statement on the binlog connection; only before start(). */
  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const conn = this.conn
    if (!conn) throw new Error('binlog stream is not connected')
    if (this.settle) throw new Error('binlog stream is busy streaming')
    return new Promise((resolve, reject) => {
      conn.query(sql, params, (err, rows) => {
        if (err) reject(classifyMysqlError(err, this.where))
        else resolve(Array.isArray(rows) ? (rows as T[]) : [])
      })
    })
  }

  /** The server's current binlog end and GTID state (SHOW MASTER STATUS); only before start(). */
  async currentPosition(): Promise<BinlogCoordinates> {
    const { flavour, version } = this.server
    const [maj = 0, min = 0] = version.split(/[.-]/).map(Number)
    // MySQL 8.2 renamed SHOW MASTER STATUS to SHOW BINARY LOG STATUS and 8.4 removed the old name.
    const sql =
      flavour === 'mysql' && (maj > 8 || (maj === 8 && min >= 2))
        ? 'SHOW BINARY LOG STATUS'
        : 'SHOW MASTER STATUS'
    const [row] = await this.query<{ File: string; Position: number | string; Executed_Gtid_Set?: string }>(
      sql,
    )
    if (!row) {
      throw new PreconditionError(
        'MYSQL_BINLOG_DISABLED',
        `binary logging is off on ${this.where}: start the server with log_bin (and server_id) in my.cnf`,
      )
    }
    let gtid = (row.Executed_Gtid_Set ?? '').replace(/\s+/g, '')
    if (flavour === 'mariadb') {
      const [g] = await this.query<{ gtid: string }>('SELECT @@global.gtid_binlog_pos AS gtid')
      gtid = g?.gtid ?? ''
    }
    return { file: row.File, position: Number(row.Position), gtid }
  }

  /**
   * Starts the dump and delivers events to `handlers`. The promise settles when the stream
   * ends: it resolves after end(), or at the end of the binlog with `nonBlocking`; it
   * rejects with a SluiceError on a server error or a lost connection.
   */
  start(from: BinlogStart, handlers: BinlogHandlers): Promise<void> {
    const conn = this.conn
    if (!conn || !this.info) return Promise.reject(new Error('binlog stream is not connected'))
    if (this.settle) return Promise.reject(new Error('binlog stream already started'))
    const { flavour } = this.info
    let flags = this.opts.nonBlocking ? DumpFlag.NON_BLOCK : 0
    if (flavour === 'mariadb' && this.opts.annotateRows) flags |= DumpFlag.SEND_ANNOTATE_ROWS

    const done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject }
    })
    const prepare = async (): Promise<Buffer> => {
      if ('file' in from) {
        return encodeBinlogDump({
          position: from.position,
          flags,
          serverId: this.opts.serverId,
          file: from.file,
        })
      }
      if (flavour === 'mariadb') {
        // MariaDB GTID resume: the state goes in session variables; the dump itself is a
        // plain COM_BINLOG_DUMP with an empty file name (the server finds the file).
        await this.queryRaw('SET @slave_connect_state = ?, @slave_gtid_strict_mode = 1', [from.gtid])
        return encodeBinlogDump({
          position: BINLOG_FIRST_EVENT,
          flags,
          serverId: this.opts.serverId,
          file: '',
        })
      }
      return encodeBinlogDumpGtid({
        flags: flags & DumpFlag.NON_BLOCK,
        serverId: this.opts.serverId,
        file: '',
        position: BINLOG_FIRST_EVENT,
        gtidSet: from.gtid,
      })
    }
    prepare().then(
      (dump) => {
        if (!this.settle) return // ended meanwhile
        const register = this.opts.register ? this.registerPacket() : null
        const cmd = new DumpCommand(
          register,
          dump,
          (payload) => this.onPayload(payload, handlers),
          (err) => this.fail(classifyMysqlError(err, this.where)),
        )
        this.lastPacketAt = Date.now()
        this.startIdleTimer()
        conn.addCommand(cmd)
      },
      (err: unknown) => this.fail(classifyMysqlError(err, this.where)),
    )
    return done
  }

  /** Stops reading from the socket (back-pressure); the server blocks once the socket buffers fill. */
  pause(): void {
    if (this.paused || !this.conn) return
    this.paused = true
    this.conn.pause()
  }

  /** Resumes reading; packets that arrived before pause() took effect are delivered first. */
  resume(): void {
    if (!this.paused || !this.conn) return
    this.paused = false
    this.lastPacketAt = Date.now()
    this.conn.resume()
  }

  /** Whether pause() is in effect. */
  get isPaused(): boolean {
    return this.paused
  }

  /** Closes the connection; a running start() resolves. Safe to call twice. */
  async end(): Promise<void> {
    const conn = this.conn
    this.conn = null
    this.stopIdleTimer()
    const s = this.settle
    this.settle = null
    if (conn) {
      // A streaming connection never answers COM_QUIT (the dump command never ends), so
      // close the socket instead. mysql2's destroy() only half-closes it (end()), and the
      // server's dump thread never reads, so the socket would stay open and keep the
      // process alive: destroy the socket itself.
      conn.destroy()
      ;(conn as unknown as { stream?: { destroy?: () => void } }).stream?.destroy?.()
    }
    s?.resolve()
  }

  private queryRaw(sql: string, params: unknown[]): Promise<void> {
    const conn = this.conn
    if (!conn) return Promise.reject(new Error('binlog stream is not connected'))
    return new Promise((resolve, reject) => conn.query(sql, params, (err) => (err ? reject(err) : resolve())))
  }

  private registerPacket(): Buffer {
    let user = ''
    let port = 0
    try {
      const u = new URL(this.opts.url)
      user = decodeURIComponent(u.username)
      port = Number(u.port) || 0
    } catch {
      // reported values only
    }
    return encodeRegisterSlave({
      serverId: this.opts.serverId,
      hostname: hostname().slice(0, 255),
      user,
      password: '',
      port,
    })
  }

  /** Handles one packet after the dump request; returns true when the command is over. */
  private onPayload(payload: Buffer, handlers: BinlogHandlers): boolean {
    this.lastPacketAt = Date.now()
    const marker = payload[0]
    if (marker === OK && payload.length > EVENT_HEADER_SIZE) {
      // Copy: mysql2 may reuse the memory behind the packet.
      const event = Buffer.allocUnsafe(payload.length - 1)
      payload.copy(event, 0, 1)
      const size = event.readUInt32LE(HEADER_SIZE)
      if (size !== event.length) {
        this.fail(
          new SourceError(
            'MYSQL_BINLOG_CORRUPT',
            `binlog event from ${this.where} has event_size ${size} but ${event.length} bytes arrived (type ${event[HEADER_TYPE]})`,
          ),
        )
        return true
      }
      if (event[HEADER_TYPE] === FORMAT_DESCRIPTION_EVENT) {
        const alg = event[event.length - 5]
        this.fdeChecksum =
          alg === CHECKSUM_ALG_CRC32 ? 'CRC32' : alg === CHECKSUM_ALG_OFF ? 'NONE' : this.fdeChecksum
      }
      try {
        handlers.onEvent(event)
      } catch (err) {
        this.fail(classifyMysqlError(err, this.where))
        return true
      }
      return false
    }
    if (marker === EOF && payload.length < EOF_MAX_PAYLOAD) {
      this.stopIdleTimer()
      const s = this.settle
      this.settle = null
      s?.resolve()
      return true
    }
    if (marker === ERR) {
      this.fail(classifyMysqlError(parseErrPacket(payload), this.where))
      return true
    }
    this.fail(
      new SourceError(
        'MYSQL_BINLOG_CORRUPT',
        `unexpected packet (marker 0x${(marker ?? 0).toString(16)}, ${payload.length} bytes) in the binlog stream from ${this.where}`,
      ),
    )
    return true
  }

  private fail(err: SluiceError): void {
    const s = this.settle
    if (!s) return
    this.settle = null
    this.stopIdleTimer()
    const conn = this.conn
    this.conn = null
    conn?.destroy()
    s.reject(err)
  }

  private startIdleTimer(): void {
    const idle = this.opts.idleTimeoutMs ?? 3 * (this.opts.heartbeatMs ?? 0)
    if (idle <= 0) return
    this.idleTimer = setInterval(
      () => {
        if (this.paused || Date.now() - this.lastPacketAt <= idle) return
        this.fail(
          new SourceError(
            'MYSQL_CONNECTION_LOST',
            `no data or heartbeat from ${this.where} for ${idle} ms: the connection is presumed dead`,
            { retriable: true },
          ),
        )
      },
      Math.max(10, Math.floor(idle / 4)),
    )
    this.idleTimer.unref()
  }

  private stopIdleTimer(): void {
    if (this.idleTimer) clearInterval(this.idleTimer)
    this.idleTimer = null
  }
}
