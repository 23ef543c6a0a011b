/**
 * BinlogDecoder: one event's bytes in, one typed event out. It carries forward what the
 * stream establishes: the checksum algorithm (from each FORMAT_DESCRIPTION_EVENT; before
 * the first one, what the client declared with @master_binlog_checksum), the post-header
 * lengths, the server flavour, and the TABLE_MAP cache by table id.
 */
import { crc32 } from 'node:zlib'
import { CHECKSUM_LENGTH, ChecksumAlg, EventType, HEADER_LENGTH } from './codes.js'
import {
  readFormatDescription,
  readHeartbeat,
  readQuery,
  readRotate,
  readXid,
  versionHasChecksumAlg,
} from './control.js'
import { BinlogDecodeError } from './errors.js'
import type { BinlogEvent, EventHeader, FormatDescriptionEvent } from './events.js'
import { readAnnotateRows, readBinlogCheckpoint, readMariadbGtid, readMariadbGtidList } from './mariadb.js'
import { readMysqlGtid, readPreviousGtids, readRowsQuery, readTransactionPayload } from './mysql8.js'
import { Reader } from './reader.js'
import { isRowsEvent, readRows } from './rows.js'
import { readTableMap, type TableMap } from './table-map.js'
import type { Flavour } from './values.js'

/** Options of BinlogDecoder. */
export interface BinlogDecoderOptions {
  /**
   * Checksum of the events before the first FORMAT_DESCRIPTION_EVENT (the artificial ROTATE
   * at dump start): what the client declared with `@master_binlog_checksum`. 'none' when it
   * declared 'NONE' (the artificial ROTATE then has no CRC), 'crc32' when it declared
   * `@@global.binlog_checksum` on a CRC32 server. Default 'none'. A binlog file starts with
   * its FDE, so this does not matter for files.
   */
  checksum?: 'none' | 'crc32'
  /**
   * Server flavour, deciding where the layouts differ (MariaDB lists GEOMETRY columns in
   * COLUMN_CHARSET, collation ids above 255). Default: detected from every FDE's server
   * version ('mariadb' when it contains "MariaDB"); 'mysql' before the first FDE.
   */
  flavour?: Flavour
  /** Verify each event's CRC32 when the checksum algorithm is CRC32. Default true. */
  verifyChecksums?: boolean
}

/** Standard post-header lengths used before the first FDE (binlog v4). */
const DEFAULT_TABLE_ID_SIZE = 6
const DEFAULT_QUERY_POST_HEADER = 13

/**
 * Decodes the events of one binlog file or one replication stream, in order. Not
 * thread-safe and not reentrant; use one per stream. Every event returned is a copy, so
 * the input buffer may be reused after decode() returns.
 */
export class BinlogDecoder {
  /** TABLE_MAPs by table id, as established by the TABLE_MAP events seen so far (cleared at each FDE). */
  readonly tables = new Map<number, TableMap>()
  private checksumAlg: number
  private fde: FormatDescriptionEvent | null = null
  private flavourNow: Flavour
  private readonly fixedFlavour: Flavour | undefined
  private readonly verify: boolean

  constructor(opts: BinlogDecoderOptions = {}) {
    this.checksumAlg = opts.checksum === 'crc32' ? ChecksumAlg.Crc32 : ChecksumAlg.Off
    this.fixedFlavour = opts.flavour
    this.flavourNow = opts.flavour ?? 'mysql'
    this.verify = opts.verifyChecksums ?? true
  }

  /** The checksum algorithm (ChecksumAlg) applied to the next non-FDE event. */
  get checksum(): number {
    return this.checksumAlg
  }

  /** The flavour in force (explicit, or detected from the last FDE). */
  get flavour(): Flavour {
    return this.flavourNow
  }

  /** The last FORMAT_DESCRIPTION_EVENT seen, or null. */
  get formatDescription(): FormatDescriptionEvent | null {
    return this.fde
  }

  /**
   * Decodes one event: the 19-byte common header, the body and, with CRC32, the 4-byte
   * checksum, exactly `event_size` bytes. Returns `{type: 'unknown', code}` for event types
   * it does not interpret. Throws a BinlogDecodeError (with the event's log_pos and type)
   * for a truncated, over-long or corrupt event, a CRC mismatch, rows for an unknown table,
   * or PARTIAL_UPDATE_ROWS.
   */
  decode(buf: Buffer): BinlogEvent {
    return this.decodeEvent(buf, false)
  }

  private decodeEvent(buf: Buffer, inner: boolean): BinlogEvent {
    if (buf.length < HEADER_LENGTH) {
      throw new BinlogDecodeError(`binlog event of ${buf.length} bytes is shorter than its 19-byte header`, {
        logPos: -1,
        eventType: buf.length > 4 ? buf[4]! : -1,
        offset: 0,
      })
    }
    const header: EventHeader = {
      timestamp: buf.readUInt32LE(0),
      eventType: buf[4]!,
      serverId: buf.readUInt32LE(5),
      eventSize: buf.readUInt32LE(9),
      logPos: buf.readUInt32LE(13),
      flags: buf.readUInt16LE(17),
    }
    const r = new Reader(buf, HEADER_LENGTH, buf.length, header.logPos, header.eventType)
    if (header.eventSize !== buf.length) {
      r.fail(`event_size ${header.eventSize} in the header, but ${buf.length} bytes given`)
    }
    try {
      return this.decodeBody(r, header, inner)
    } catch (err) {
      if (err instanceof BinlogDecodeError) throw err
      // A bug or a layout we did not foresee: still report it as a decode error at this event.
      throw new BinlogDecodeError(
        `binlog event type ${header.eventType} at log_pos ${header.logPos}: ${(err as Error).message ?? String(err)}`,
        { logPos: header.logPos, eventType: header.eventType, offset: r.pos },
        { cause: err },
      )
    }
  }

  /** Checks the trailing CRC32 over header + body and shortens r.end past it. */
  private stripChecksum(r: Reader, alg: number): void {
    if (alg !== ChecksumAlg.Crc32) return
    const len = r.buf.length
    if (len < HEADER_LENGTH + CHECKSUM_LENGTH) r.fail('event too short for its CRC32')
    if (this.verify) {
      const expected = r.buf.readUInt32LE(len - CHECKSUM_LENGTH)
      const actual = crc32(r.buf.subarray(0, len - CHECKSUM_LENGTH))
      if (expected !== actual) {
        r.fail(`CRC32 mismatch: event has 0x${expected.toString(16)}, computed 0x${actual.toString(16)}`)
      }
    }
    r.end = len - CHECKSUM_LENGTH
  }

  private postHeaderLength(eventType: number): number | undefined {
    return this.fde?.postHeaderLengths[eventType - 1]
  }

  private decodeBody(r: Reader, header: EventHeader, inner: boolean): BinlogEvent {
    const type = header.eventType
    if (type === EventType.FormatDescription) return this.formatDescriptionEvent(r, header)
    // Events inside a TRANSACTION_PAYLOAD carry no checksum.
    if (!inner) this.stripChecksum(r, this.checksumAlg)
    switch (type) {
      case EventType.Rotate:
        return readRotate(r, header)
      case EventType.Query:
      case EventType.QueryCompressed:
        return readQuery(r, header, this.postHeaderLength(EventType.Query) ?? DEFAULT_QUERY_POST_HEADER)
      case EventType.Xid:
        return readXid(r, header)
      case EventType.Heartbeat:
        return readHeartbeat(r, header)
      case EventType.TableMap: {
        const idSize = this.postHeaderLength(type) === 6 ? 4 : DEFAULT_TABLE_ID_SIZE
        const table = readTableMap(r, idSize, this.flavourNow)
        this.tables.set(table.tableId, table)
        return { type: 'tableMap', header, table }
      }
      case EventType.MariadbGtid:
        return readMariadbGtid(r, header)
      case EventType.MariadbGtidList:
        return readMariadbGtidList(r, header)
      case EventType.BinlogCheckpoint:
        return readBinlogCheckpoint(r, header)
      case EventType.AnnotateRows:
        return readAnnotateRows(r, header)
      case EventType.GtidLog:
      case EventType.AnonymousGtidLog:
        return readMysqlGtid(r, header, type === EventType.AnonymousGtidLog)
      case EventType.PreviousGtidsLog:
        return readPreviousGtids(r, header)
      case EventType.RowsQuery:
        return readRowsQuery(r, header)
      case EventType.PartialUpdateRows:
        return r.fail(
          'PARTIAL_UPDATE_ROWS_EVENT: the server logs JSON diffs instead of full after-images, which this decoder ' +
            "does not apply; set binlog_row_value_options='' (empty) on the server",
        )
      case EventType.TransactionPayload: {
        if (inner) r.fail('TRANSACTION_PAYLOAD nested inside another')
        const body = readTransactionPayload(r)
        return {
          type: 'transactionPayload',
          header,
          compression: body.compression,
          uncompressedSize: body.uncompressedSize,
          events: this.innerEvents(r, body.events),
        }
      }
      default:
        if (isRowsEvent(type)) {
          const idSize = this.postHeaderLength(type) === 6 ? 4 : DEFAULT_TABLE_ID_SIZE
          return readRows(r, header, idSize, this.tables)
        }
        return { type: 'unknown', header, code: type }
    }
  }

  private formatDescriptionEvent(r: Reader, header: EventHeader): FormatDescriptionEvent {
    const buf = r.buf
    // The FDE says its own checksum: the algorithm byte sits before the trailing 4 bytes,
    // for servers new enough to write it (judged from the version string at body offset 2).
    r.need(2 + 50, 'FDE server_version')
    const version = buf.toString('latin1', HEADER_LENGTH + 2, HEADER_LENGTH + 52)
    let alg: number = ChecksumAlg.Off
    if (versionHasChecksumAlg(version)) {
      if (buf.length < HEADER_LENGTH + 57 + 1 + CHECKSUM_LENGTH)
        r.fail('FDE too short for its checksum algorithm')
      alg = buf[buf.length - CHECKSUM_LENGTH - 1]!
      if (alg !== ChecksumAlg.Off && alg !== ChecksumAlg.Crc32) r.fail(`unknown checksum algorithm ${alg}`)
      // With alg NONE the 4 trailing bytes are still there but meaningless (the server may
      // rewrite log_pos without updating them): skip without checking.
      if (alg === ChecksumAlg.Crc32) this.stripChecksum(r, alg)
      r.end = buf.length - CHECKSUM_LENGTH - 1
    }
    const fde = readFormatDescription(r, header, alg)
    this.fde = fde
    this.checksumAlg = alg
    if (this.fixedFlavour === undefined)
      this.flavourNow = fde.serverVersion.includes('MariaDB') ? 'mariadb' : 'mysql'
    // A new file (or server restart) starts a new table id space.
    this.tables.clear()
    return fde
  }

  /** Splits and decodes a payload's inner events (header + body, no CRC). */
  private innerEvents(r: Reader, data: Uint8Array): BinlogEvent[] {
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    const out: BinlogEvent[] = []
    let p = 0
    while (p < buf.length) {
      if (buf.length - p < HEADER_LENGTH)
        r.fail(`payload: ${buf.length - p} trailing byte(s) are not an event`)
      const size = buf.readUInt32LE(p + 9)
      if (size < HEADER_LENGTH || p + size > buf.length)
        r.fail(`payload: inner event at ${p} has bad size ${size}`)
      out.push(this.decodeEvent(buf.subarray(p, p + size), true))
      p += size
    }
    return out
  }
}
