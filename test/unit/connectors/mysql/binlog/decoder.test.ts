import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  ABSENT,
  BinlogDecodeError,
  BinlogDecoder,
  ColumnType,
  EventType,
  MariadbGtidFlag,
  MetadataField,
  type BinlogEvent,
  type RowsEvent,
} from '../../../../../connectors/mysql/binlog/index.js'
import {
  bitmap,
  event,
  fde,
  le,
  lenenc,
  lenencStr,
  rowImage,
  rowsBody,
  tableMapBody,
  tlv,
  type ColDef,
} from './build.js'

const MARIADB = '10.11.19-MariaDB-log'
const MYSQL = '8.0.36'

/** A decoder that has seen a CRC32 FDE of `version`. */
function started(version = MARIADB): BinlogDecoder {
  const d = new BinlogDecoder()
  d.decode(fde(version, 1))
  return d
}

/** Decodes one table of `cols` and one WRITE_ROWS row of `values`; returns the row. */
function writeRow(
  cols: ColDef[],
  values: (Buffer | null)[],
  tlvs: Buffer[] = [],
  version = MARIADB,
): (typeof ABSENT | unknown)[] {
  const d = started(version)
  d.decode(event(EventType.TableMap, tableMapBody(7, 's', 't', cols, tlvs)))
  const e = d.decode(event(EventType.WriteRowsV1, rowsBody(7, cols.length, [rowImage(values)]))) as RowsEvent
  return e.rows[0]!.after!
}

function expectDecodeError(fn: () => unknown, match: RegExp): BinlogDecodeError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof BinlogDecodeError, `expected BinlogDecodeError, got ${String(err)}`)
    assert.match(err.message, match)
    return err
  }
  return assert.fail('expected a BinlogDecodeError')
}

describe('checksums', () => {
  test('before the first FDE the declared checksum applies (artificial ROTATE)', () => {
    const rotate = Buffer.concat([le(4, 8), Buffer.from('binlog.000007')])
    const plain = new BinlogDecoder({ checksum: 'none' })
    const r1 = plain.decode(event(EventType.Rotate, rotate, { crc: false, logPos: 0, flags: 0x20 }))
    assert.ok(r1.type === 'rotate' && r1.nextFile === 'binlog.000007' && r1.artificial)
    const crc = new BinlogDecoder({ checksum: 'crc32' })
    const r2 = crc.decode(event(EventType.Rotate, rotate, { crc: true, logPos: 0, flags: 0x20 }))
    assert.ok(r2.type === 'rotate' && r2.nextFile === 'binlog.000007')
  })

  test('every FDE sets the algorithm; with NONE its 4 trailing bytes are ignored', () => {
    const d = new BinlogDecoder({ checksum: 'crc32' })
    const f = d.decode(fde(MARIADB, 0))
    assert.ok(f.type === 'formatDescription' && f.checksumAlg === 0)
    assert.equal(d.checksum, 0)
    const x = d.decode(event(EventType.Xid, le(42, 8), { crc: false }))
    assert.ok(x.type === 'xid' && x.xid === 42n)
    d.decode(fde(MARIADB, 1))
    assert.equal(d.checksum, 1)
  })

  test('a CRC mismatch throws with the log position and type', () => {
    const d = started()
    const ev = event(EventType.Xid, le(42, 8), { logPos: 4711 })
    ev[20] = ev[20]! ^ 0x01
    const err = expectDecodeError(() => d.decode(ev), /CRC32 mismatch/)
    assert.equal(err.logPos, 4711)
    assert.equal(err.eventType, EventType.Xid)
    assert.equal(err.code, 'MYSQL_BINLOG_DECODE_FAILED')
  })

  test('event_size disagreeing with the buffer throws', () => {
    const d = started()
    const ev = event(EventType.Xid, le(42, 8))
    expectDecodeError(() => d.decode(ev.subarray(0, ev.length - 1)), /event_size/)
    expectDecodeError(() => d.decode(ev.subarray(0, 10)), /shorter than its 19-byte header/)
  })
})

describe('control events', () => {
  test('MariaDB GTID with FL_GROUP_COMMIT_ID', () => {
    const d = started()
    const flags = MariadbGtidFlag.GroupCommitId | MariadbGtidFlag.Transactional
    const g = d.decode(
      event(EventType.MariadbGtid, Buffer.concat([le(24420, 8), le(3, 4), Buffer.from([flags]), le(77, 8)]), {
        serverId: 9,
      }),
    )
    assert.ok(g.type === 'mariadbGtid')
    assert.equal(g.gtid, '3-9-24420')
    assert.equal(g.commitId, 77n)
    assert.equal(g.standalone, false)
  })

  test('MariaDB GTID padding reads as no extra flags; COMMIT_ALTER carries sa_seq_no', () => {
    const d = started()
    const plain = d.decode(
      event(EventType.MariadbGtid, Buffer.concat([le(5, 8), le(0, 4), Buffer.from([1]), Buffer.alloc(6)])),
    )
    assert.ok(plain.type === 'mariadbGtid' && plain.flagsExtra === 0 && plain.standalone)
    const alter = d.decode(
      event(
        EventType.MariadbGtid,
        Buffer.concat([le(6, 8), le(0, 4), Buffer.from([1]), Buffer.from([4]), le(5, 8)]),
      ),
    )
    assert.ok(alter.type === 'mariadbGtid' && alter.startAlterSeqNo === 5n)
  })

  test('GTID_LIST, BINLOG_CHECKPOINT, HEARTBEAT, XID', () => {
    const d = started()
    const list = d.decode(
      event(
        EventType.MariadbGtidList,
        Buffer.concat([le(2, 4), le(0, 4), le(1, 4), le(58, 8), le(1, 4), le(2, 4), le(9, 8)]),
      ),
    )
    assert.ok(list.type === 'mariadbGtidList')
    assert.deepEqual(list.gtids, [
      { domainId: 0, serverId: 1, seqNo: 58n },
      { domainId: 1, serverId: 2, seqNo: 9n },
    ])
    const cp = d.decode(
      event(EventType.BinlogCheckpoint, Buffer.concat([le(13, 4), Buffer.from('binlog.000001')])),
    )
    assert.ok(cp.type === 'binlogCheckpoint' && cp.logFile === 'binlog.000001')
    const hb = d.decode(event(EventType.Heartbeat, Buffer.from('binlog.000003')))
    assert.ok(hb.type === 'heartbeat' && hb.logFile === 'binlog.000003')
  })

  test('QUERY skips status variables by their length', () => {
    const d = started()
    const status = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x00, 0x99, 0x99]) // any bytes: skipped by length
    const body = Buffer.concat([
      le(5, 4),
      le(0, 4),
      Buffer.from([4]),
      le(0, 2),
      le(status.length, 2),
      status,
      Buffer.from('shop\0'),
      Buffer.from('TRUNCATE TABLE orders'),
    ])
    const q = d.decode(event(EventType.Query, body))
    assert.ok(q.type === 'query' && q.schema === 'shop' && q.query === 'TRUNCATE TABLE orders')
  })

  test('unknown event types are not errors', () => {
    const d = started()
    const u = d.decode(event(250, Buffer.from([1, 2, 3])))
    assert.ok(u.type === 'unknown' && u.code === 250)
  })

  test('PARTIAL_UPDATE_ROWS tells the user to clear binlog_row_value_options', () => {
    const d = started(MYSQL)
    expectDecodeError(
      () => d.decode(event(EventType.PartialUpdateRows, Buffer.alloc(12))),
      /binlog_row_value_options='' \(empty\)/,
    )
  })

  test('rows for a table id without TABLE_MAP throw', () => {
    const d = started()
    expectDecodeError(
      () => d.decode(event(EventType.WriteRowsV1, rowsBody(99, 1, [rowImage([le(1, 4)])]))),
      /table id 99 without a preceding TABLE_MAP/,
    )
  })
})

describe('row values (hand-built)', () => {
  test('DECIMAL(14,4) positive and negative (MySQL manual example bytes)', () => {
    const col = { type: ColumnType.NewDecimal, meta: [14, 4] }
    const row = writeRow(
      [col, col],
      [Buffer.from('810dfb38d204d2', 'hex'), Buffer.from('7ef204c72dfb2d', 'hex')],
    )
    assert.deepEqual(row, ['1234567890.1234', '-1234567890.1234'])
  })

  test('TIME2 negative with fsp 2 borrows from the integer part', () => {
    const row = writeRow([{ type: ColumnType.Time2, meta: [2] }], [Buffer.from('7ffffece', 'hex')])
    assert.deepEqual(row[0], { negative: true, hours: 0, minutes: 0, seconds: 1, micros: 500000 })
  })

  test('old TIME, DATETIME and TIMESTAMP types', () => {
    const row = writeRow(
      [{ type: ColumnType.Time }, { type: ColumnType.DateTime }, { type: ColumnType.Timestamp }],
      [le(-123456, 3), le(20261121080512n, 8), le(1700000000, 4)],
    )
    assert.deepEqual(row, [
      { negative: true, hours: 12, minutes: 34, seconds: 56, micros: 0 },
      { year: 2026, month: 11, day: 21, hour: 8, minute: 5, second: 12, micros: 0 },
      { epochSeconds: 1700000000, micros: 0 },
    ])
  })

  test('long CHAR: the length hides 2 bits in metadata byte 0', () => {
    // CHAR(100) utf8mb4 = 400 bytes: byte0 = 0xfe ^ ((400 >> 4) & 0x30) = 0xee, byte1 = 400 & 0xff.
    const cols: ColDef[] = [{ type: ColumnType.String, meta: [0xee, 0x90] }]
    const cs = tlv(MetadataField.DefaultCharset, lenenc(45))
    const row = writeRow(cols, [Buffer.concat([le(3, 2), Buffer.from('abc')])], [cs])
    assert.deepEqual(row, ['abc'])
  })

  test('GEOMETRY is not a charset column on MySQL (flavour from the FDE)', () => {
    const cols: ColDef[] = [
      { type: ColumnType.Geometry, meta: [4] },
      { type: ColumnType.VarChar, meta: [40, 0] },
    ]
    const geom = Buffer.concat([le(25, 4), le(0, 4), Buffer.from('0101000000', 'hex'), Buffer.alloc(16)])
    const vc = Buffer.concat([Buffer.from([2]), Buffer.from('k1')])
    // MySQL: one charset column (the VARCHAR).
    const mysql = writeRow(cols, [geom, vc], [tlv(MetadataField.ColumnCharset, lenenc(45))], MYSQL)
    assert.equal(mysql[1], 'k1')
    // MariaDB: two (GEOMETRY first).
    const maria = writeRow(
      cols,
      [geom, vc],
      [tlv(MetadataField.ColumnCharset, Buffer.concat([lenenc(63), lenenc(45)]))],
    )
    assert.equal(maria[1], 'k1')
    assert.deepEqual((maria[0] as { srid: number }).srid, 0)
  })

  test('unknown collation gives UndecodedText; utf16 is big-endian', () => {
    const cols: ColDef[] = [
      { type: ColumnType.VarChar, meta: [20, 0] },
      { type: ColumnType.VarChar, meta: [20, 0] },
    ]
    const row = writeRow(
      cols,
      [Buffer.from([2, 0x61, 0x62]), Buffer.from([4, 0x00, 0x61, 0x26, 0x03])],
      [tlv(MetadataField.ColumnCharset, Buffer.concat([lenenc(4000), lenenc(54)]))],
    )
    assert.deepEqual(row[0], { collation: 4000, bytes: Buffer.from('ab') })
    assert.equal(row[1], 'a☃')
  })

  test('ENUM and SET without FULL metadata give the index and the mask', () => {
    const row = writeRow(
      [
        { type: ColumnType.String, meta: [ColumnType.Enum, 1] },
        { type: ColumnType.String, meta: [ColumnType.Set, 1] },
      ],
      [Buffer.from([2]), Buffer.from([5])],
    )
    assert.deepEqual(row, [2, 5])
  })

  test('partial images: columns outside the bitmap are ABSENT, not NULL', () => {
    const d = started()
    const cols: ColDef[] = [{ type: ColumnType.Long }, { type: ColumnType.Long }, { type: ColumnType.Long }]
    d.decode(event(EventType.TableMap, tableMapBody(7, 's', 't', cols)))
    const body = rowsBody(7, 3, [rowImage([le(1, 4)]), rowImage([null, le(5, 4)])], {
      update: true,
      present: [0],
      presentAfter: [1, 2],
    })
    const e = d.decode(event(EventType.UpdateRowsV1, body)) as RowsEvent
    assert.deepEqual(e.rows[0], { before: [1, ABSENT, ABSENT], after: [ABSENT, null, 5] })
  })

  test('BIGINT: numbers while safe, bigints beyond 2^53', () => {
    const cols: ColDef[] = [
      { type: ColumnType.LongLong },
      { type: ColumnType.LongLong },
      { type: ColumnType.LongLong },
    ]
    const row = writeRow(cols, [le(2 ** 53 - 1, 8), le(-(2n ** 53n), 8), le(2n ** 53n, 8)])
    assert.deepEqual(row, [2 ** 53 - 1, -(2n ** 53n), 2n ** 53n])
  })

  test('NULL bitmap over many columns', () => {
    const cols: ColDef[] = Array.from({ length: 17 }, () => ({ type: ColumnType.Tiny }))
    const values = cols.map((_, i) => (i % 3 === 0 ? null : Buffer.from([i])))
    const row = writeRow(cols, values)
    assert.deepEqual(
      row,
      cols.map((_, i) => (i % 3 === 0 ? null : i)),
    )
    assert.equal(bitmap(17, [16]).length, 3)
  })
})

describe('TABLE_MAP optional metadata', () => {
  test('visibility, enum/set charsets, default charset exceptions', () => {
    const d = started(MYSQL)
    const cols: ColDef[] = [
      { type: ColumnType.Long },
      { type: ColumnType.VarChar, meta: [10, 0] },
      { type: ColumnType.VarChar, meta: [10, 0] },
      { type: ColumnType.String, meta: [ColumnType.Enum, 1] },
    ]
    const tlvs = [
      tlv(MetadataField.DefaultCharset, Buffer.concat([lenenc(255), lenenc(1), lenenc(8)])),
      tlv(MetadataField.EnumAndSetDefaultCharset, lenenc(8)),
      tlv(
        MetadataField.EnumStrValue,
        Buffer.concat([lenenc(2), lenencStr(Buffer.from([0x80])), lenencStr('b')]),
      ),
      tlv(MetadataField.ColumnName, Buffer.concat(['id', 'a', 'b', 'e'].map((n) => lenencStr(n)))),
      tlv(MetadataField.ColumnVisibility, Buffer.from([0b1011_0000])),
      tlv(200, Buffer.from([1, 2, 3])), // unknown: skipped
    ]
    const e = d.decode(event(EventType.TableMap, tableMapBody(3, 's', 't', cols, tlvs))) as BinlogEvent
    assert.ok(e.type === 'tableMap')
    const c = e.table.columns
    assert.deepEqual(
      c.map((x) => [x.name, x.charset?.name ?? null, x.visible]),
      [
        ['id', null, true],
        ['a', 'utf8mb4', false],
        ['b', 'latin1', true],
        ['e', 'latin1', true],
      ],
    )
    assert.deepEqual(c[3]!.enumValues, ['€', 'b'])
    assert.deepEqual(e.table.metadataFields, [2, 10, 6, 4, 12, 200])
  })
})
