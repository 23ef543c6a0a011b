import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import {
  ABSENT,
  BinlogDecoder,
  binlogFileEvents,
  ColumnType,
  MariadbGtidFlag,
  type BinlogEvent,
  type BinlogValue,
  type ColumnInfo,
  type MariadbGtidEvent,
  type MysqlBit,
  type MysqlDate,
  type MysqlDateTime,
  type MysqlGeometry,
  type MysqlTime,
  type MysqlTimestamp,
  type RowsEvent,
} from '../../../../../connectors/mysql/binlog/index.js'

// Fixtures come from scripts/capture-binlog-fixtures.ts (MariaDB 10.11, CRC32, FULL image
// and metadata). workload.json is the oracle: every logged row change in binlog order with
// the server's rendering of each column (HEX(col), CAST(col AS CHAR)).

const DIR = new URL('../../../../fixtures/binlog/mariadb-10.11/', import.meta.url)

type Rendering = Record<string, [string, string | null] | null>
interface Change {
  step: string
  table: string
  kind: 'insert' | 'update' | 'delete'
  key: number
  before: Rendering | null
  after: Rendering | null
  minimal: { before: string[]; after: string[] } | null
}
interface Workload {
  tables: Record<string, { key: string; columns: { name: string; sql: string }[] }>
  benchRows: number
  changes: Change[]
}

const workload = JSON.parse(readFileSync(new URL('workload.json', DIR), 'utf8')) as Workload

/** Decodes a whole fixture file, with each event's start offset. */
function decodeFile(name: string): { position: number; event: BinlogEvent }[] {
  const decoder = new BinlogDecoder()
  const out: { position: number; event: BinlogEvent }[] = []
  for (const { position, bytes } of binlogFileEvents(readFileSync(new URL(name, DIR)))) {
    out.push({ position, event: decoder.decode(bytes) })
  }
  return out
}

const events = decodeFile('binlog.000001').map((e) => e.event)
const rowsEvents = events.filter(
  (e): e is RowsEvent => e.type === 'writeRows' || e.type === 'updateRows' || e.type === 'deleteRows',
)

const pad = (v: number, n = 2): string => String(v).padStart(n, '0')
const frac = (micros: number, fsp: number): string => (fsp > 0 ? '.' + pad(micros, 6).slice(0, fsp) : '')

/** The server's CAST(col AS CHAR) text for a decoded temporal value. */
function temporalText(col: ColumnInfo, v: BinlogValue): string {
  switch (col.realType) {
    case ColumnType.Date: {
      const d = v as MysqlDate
      return `${pad(d.year, 4)}-${pad(d.month)}-${pad(d.day)}`
    }
    case ColumnType.Time2: {
      const t = v as MysqlTime
      return `${t.negative ? '-' : ''}${pad(t.hours)}:${pad(t.minutes)}:${pad(t.seconds)}${frac(t.micros, col.length)}`
    }
    case ColumnType.DateTime2: {
      const d = v as MysqlDateTime
      return `${pad(d.year, 4)}-${pad(d.month)}-${pad(d.day)} ${pad(d.hour)}:${pad(d.minute)}:${pad(d.second)}${frac(d.micros, col.length)}`
    }
    default: {
      const t = v as MysqlTimestamp
      if (t.epochSeconds === 0 && t.micros === 0) return '0000-00-00 00:00:00' + frac(0, col.length)
      const iso = new Date(t.epochSeconds * 1000).toISOString()
      return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac(t.micros, col.length)}`
    }
  }
}

/** Asserts that a decoded value equals the server's rendering of the column. */
function assertValue(
  col: ColumnInfo,
  v: BinlogValue,
  oracle: [string, string | null] | null,
  where: string,
): void {
  if (oracle === null) {
    assert.equal(v, null, `${where}: expected NULL`)
    return
  }
  const [hex, text] = oracle
  const msg = `${where}: ${String(v)} vs ${hex} / ${text}`
  switch (col.realType) {
    case ColumnType.Tiny:
    case ColumnType.Short:
    case ColumnType.Int24:
    case ColumnType.Long:
    case ColumnType.LongLong:
      assert.equal(String(v), text, msg)
      if (typeof v === 'number') assert.ok(Number.isSafeInteger(v), msg)
      return
    case ColumnType.NewDecimal:
      assert.equal(v, text, msg)
      return
    case ColumnType.Float:
      assert.equal(v, Math.fround(Number(text)), msg)
      return
    case ColumnType.Double:
      assert.equal(v, Number(text), msg)
      return
    case ColumnType.Year:
      assert.equal(pad(v as number, 4), text, msg)
      return
    case ColumnType.Date:
    case ColumnType.Time2:
    case ColumnType.DateTime2:
    case ColumnType.Timestamp2:
      assert.equal(temporalText(col, v), text, msg)
      return
    case ColumnType.Enum:
      assert.equal(v, text, msg)
      return
    case ColumnType.Set:
      assert.equal((v as string[]).join(','), text, msg)
      return
    case ColumnType.Bit: {
      const bit = v as MysqlBit
      assert.equal(bit.bits, col.length, msg)
      assert.equal(bit.bytes.length, (col.length + 7) >> 3, msg)
      assert.equal(BigInt('0x' + (bit.bytes.toString('hex') || '0')), BigInt('0x' + hex), msg)
      return
    }
    case ColumnType.Geometry: {
      const g = v as MysqlGeometry
      const srid = Buffer.alloc(4)
      srid.writeUInt32LE(g.srid)
      assert.equal(Buffer.concat([srid, g.wkb]).toString('hex').toUpperCase(), hex, msg)
      return
    }
    default:
      // Character and binary strings (incl. BLOB/TEXT, compressed columns, UUID/INET).
      if (Buffer.isBuffer(v)) assert.equal(v.toString('hex').toUpperCase(), hex, msg)
      else assert.equal(v, text, msg)
  }
}

describe('mariadb 10.11 captured binlog', () => {
  test('every row value equals the server rendering, in binlog order', () => {
    const decoded: { event: RowsEvent; before: BinlogValue[] | null; after: BinlogValue[] | null }[] = []
    for (const e of rowsEvents) for (const r of e.rows) decoded.push({ event: e, ...r })
    assert.equal(decoded.length, workload.changes.length)
    let values = 0
    for (let i = 0; i < decoded.length; i++) {
      const d = decoded[i]!
      const c = workload.changes[i]!
      const where = `change ${i} (${c.step})`
      assert.equal(d.event.table.table, c.table, where)
      assert.equal(
        d.event.type,
        { insert: 'writeRows', update: 'updateRows', delete: 'deleteRows' }[c.kind],
        where,
      )
      const cols = d.event.table.columns
      for (const [image, oracle, present] of [
        [d.before, c.before, c.minimal?.before],
        [d.after, c.after, c.minimal?.after],
      ] as const) {
        assert.equal(image === null, oracle === null, `${where}: image presence`)
        if (image === null || oracle === null) continue
        for (const spec of workload.tables[c.table]!.columns) {
          const col = cols.find((x) => x.name === spec.name)!
          const v: BinlogValue = image[col.index]!
          if (present !== undefined && !present.includes(spec.name)) {
            assert.equal(v, ABSENT, `${where} ${spec.name}: absent from a MINIMAL image`)
            continue
          }
          assertValue(col, v, oracle[spec.name]!, `${where} ${c.table}.${spec.name}`)
          values++
        }
      }
    }
    assert.ok(values > 400, `compared ${values} values`)
  })

  test('benchmark file decodes to its 8000 row changes', () => {
    const all = decodeFile('binlog.000002').map((e) => e.event)
    let n = 0
    for (const e of all) if (e.type === 'writeRows' || e.type === 'updateRows') n += e.rows.length
    assert.equal(n, workload.benchRows)
  })

  test('file starts with FDE, GTID_LIST and BINLOG_CHECKPOINT and ends with ROTATE', () => {
    assert.equal(events[0]!.type, 'formatDescription')
    const fde = events[0]!
    assert.ok(
      fde.type === 'formatDescription' && fde.serverVersion.startsWith('10.11.') && fde.checksumAlg === 1,
    )
    assert.deepEqual(
      events.slice(1, 3).map((e) => e.type),
      ['mariadbGtidList', 'binlogCheckpoint'],
    )
    const last = events.at(-1)!
    assert.ok(last.type === 'rotate' && last.nextFile === 'binlog.000002' && last.position === 4)
  })

  test('trap 1: YEAR has a SIGNEDNESS bit, so b = -1 stays signed', () => {
    const sign = rowsEvents.find((e) => e.table.table === 'sign')!
    assert.deepEqual(
      sign.table.columns.map((c) => [c.name, c.unsigned]),
      [
        ['y', true],
        ['a', true],
        ['b', false],
      ],
    )
    assert.deepEqual(sign.rows[0]!.after, [2024, 4294967295, -1])
    assert.deepEqual(sign.table.primaryKey, [{ column: 1, prefix: 0 }])
  })

  test('trap 2: GEOMETRY is a charset column on MariaDB, so the VARCHAR after it is text', () => {
    const all = rowsEvents.find((e) => e.table.table === 'alltypes')!
    const code = all.table.columns.find((c) => c.name === 'code')!
    assert.equal(code.charset?.name, 'utf8mb4')
    assert.equal(all.rows[0]!.after![code.index], 'k1')
    const g = all.table.columns.find((c) => c.name === 'g')!
    assert.equal(g.charset?.collation, 63)
    assert.equal(all.table.columns.find((c) => c.name === 'pt')!.geometryType, 1)
  })

  test('BINARY is re-padded with 0x00 and CHAR loses its trailing spaces', () => {
    const all = rowsEvents.find((e) => e.table.table === 'alltypes')!
    const col = (n: string): number => all.table.columns.find((c) => c.name === n)!.index
    const row = all.rows[0]!.after!
    assert.deepEqual(row[col('bin')], Buffer.from([1, 0, 0, 0]))
    assert.equal(row[col('c')], 'ab')
    assert.equal(row[col('u')]!.constructor, Buffer)
    assert.equal((row[col('u')] as Buffer).length, 16)
  })

  test('latin1 is Windows-1252, ENUM labels keep commas and quotes, SET is a label list', () => {
    const all = rowsEvents.find((e) => e.table.table === 'alltypes')!
    const col = (n: string): number => all.table.columns.find((c) => c.name === n)!.index
    const row = all.rows[0]!.after!
    assert.equal(row[col('vcl')], 'café €‚ƒ')
    assert.equal(row[col('e')], 'y,z')
    assert.deepEqual(row[col('s')], ['a', 'd'])
    assert.deepEqual(all.table.columns[col('e')]!.enumValues, ['x', 'y,z', "q'uote"])
    assert.deepEqual(all.table.primaryKey, [
      { column: 0, prefix: 0 },
      { column: col('code'), prefix: 4 },
    ])
  })

  test('BIGINT UNSIGNED 2^64-1 and BIGINT -2^63 are exact bigints', () => {
    const all = rowsEvents.filter((e) => e.table.table === 'alltypes')
    const col = (n: string): number => all[0]!.table.columns.find((c) => c.name === n)!.index
    assert.equal(all[0]!.rows[0]!.after![col('biu')], 18446744073709551615n)
    assert.equal(all[1]!.rows[0]!.after![col('bi')], -9223372036854775808n)
    assert.equal(all[1]!.rows[0]!.after![col('dec1')], '-12345678901234567890.0123456789')
  })

  test('MariaDB compressed events: QUERY_COMPRESSED and compressed rows v1', () => {
    const compressed = rowsEvents.filter((e) => e.compressed)
    assert.deepEqual(
      compressed.map((e) => e.type),
      ['writeRows', 'updateRows', 'deleteRows'],
    )
    const q = events.find((e) => e.type === 'query' && e.compressed)
    assert.ok(q?.type === 'query' && q.query.startsWith('CREATE TABLE shop.compressed_ddl'))
  })

  test('COMPRESSED columns (types 140/141) are inflated', () => {
    const comp = rowsEvents.find((e) => e.table.table === 'comp')!
    assert.deepEqual(
      comp.table.columns.map((c) => c.type),
      [ColumnType.Long, ColumnType.BlobCompressed, ColumnType.VarCharCompressed, ColumnType.BlobCompressed],
    )
    assert.equal(comp.rows[0]!.after![1], 'compress me '.repeat(50))
    assert.deepEqual(comp.rows[0]!.after![3], Buffer.from('00ff'.repeat(300), 'hex'))
  })

  test('transaction boundaries: GTID opens, XID or COMMIT query closes, DDL is standalone', () => {
    const gtids = events.filter((e): e is MariadbGtidEvent => e.type === 'mariadbGtid')
    assert.ok(gtids.every((g, i) => g.seqNo === BigInt(i + 1) && g.gtid === `0-1-${i + 1}`))
    const ddl = gtids[0]!
    assert.ok(ddl.standalone && (ddl.flags & MariadbGtidFlag.Ddl) !== 0)
    const i = events.findIndex((e) => e.type === 'writeRows' && e.table.table === 'audit')
    // The MyISAM row of a rolled-back transaction is followed by a COMMIT query, not an XID.
    const next = events.slice(i + 1).find((e) => e.type === 'xid' || e.type === 'query')!
    assert.ok(next.type === 'query' && next.query === 'COMMIT')
    const queries = events.filter((e) => e.type === 'query').map((e) => (e.type === 'query' ? e.query : ''))
    assert.ok(queries.includes('TRUNCATE TABLE shop.audit'))
    assert.ok(queries.some((q) => q.startsWith('ALTER TABLE shop.sign')))
  })

  test('a new table id after ALTER, with the added column', () => {
    const signs = rowsEvents.filter((e) => e.table.table === 'sign')
    assert.equal(signs.length, 2)
    assert.notEqual(signs[0]!.tableId, signs[1]!.tableId)
    assert.deepEqual(signs[1]!.rows[0]!.after, [1999, 7, 7, 'n'])
  })

  test('XA: GTIDs carry PREPARED_XA and COMPLETED_XA with the XID', () => {
    const xa = events.filter((e): e is MariadbGtidEvent => e.type === 'mariadbGtid' && e.xid !== null)
    assert.equal(xa.length, 2)
    assert.ok(xa[0]!.flags & MariadbGtidFlag.PreparedXa)
    assert.ok(xa[1]!.flags & MariadbGtidFlag.CompletedXa)
    assert.equal(xa[0]!.xid!.gtrid.toString(), 'xa1')
    assert.equal(xa[0]!.xid!.formatId, 1)
  })

  test('ANNOTATE_ROWS carries the statement text', () => {
    const a = events.find((e) => e.type === 'rowsQuery')
    assert.ok(a?.type === 'rowsQuery' && a.sql.startsWith('INSERT INTO shop.alltypes VALUES (1,'))
  })
})
