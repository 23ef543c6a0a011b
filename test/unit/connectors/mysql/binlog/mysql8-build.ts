/**
 * Hand-built MySQL 8 events (MySQL 8 cannot run here; layouts from the MySQL source, as
 * documented in connectors/mysql/binlog/mysql8.ts). Run directly to regenerate
 * test/fixtures/binlog/mysql-8.0/transaction-payload.json (needs the `zstd` CLI):
 *
 *   npx tsx test/unit/connectors/mysql/binlog/mysql8-build.ts
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ColumnType, EventType, MetadataField } from '../../../../../connectors/mysql/binlog/index.js'
import { event, le, lenenc, lenencStr, rowImage, rowsBody, tableMapBody, tlv } from './build.js'
import { jsonBinary } from './json-encode.js'

/** A 16-byte SID from its UUID text. */
export function sid(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex')
}

/** TABLE_MAP of `app.docs (id BIGINT UNSIGNED, doc JSON, name VARCHAR(20) utf8mb4_0900_ai_ci)`. */
export function docsTableMap(crc: boolean): Buffer {
  const cols = [
    { type: ColumnType.LongLong, nullable: false },
    { type: ColumnType.Json, meta: [4] },
    { type: ColumnType.VarChar, meta: [80, 0] },
  ]
  const tlvs = [
    tlv(MetadataField.Signedness, Buffer.from([0x80])),
    tlv(MetadataField.DefaultCharset, lenenc(255)),
    tlv(MetadataField.ColumnName, Buffer.concat(['id', 'doc', 'name'].map((n) => lenencStr(n)))),
    tlv(MetadataField.SimplePrimaryKey, lenenc(0)),
  ]
  return event(EventType.TableMap, tableMapBody(42, 'app', 'docs', cols, tlvs), { crc })
}

/** The JSON document used in the payload. */
export const PAYLOAD_DOC = jsonBinary({
  object: [
    ['k', { int16: 7 }],
    ['list', { array: ['x', true, null] }],
  ],
})

/** A v2 WRITE_ROWS of one docs row, with a partition-info extra. */
export function docsWriteRows(crc: boolean): Buffer {
  const image = rowImage([
    le(18446744073709551615n, 8),
    Buffer.concat([le(PAYLOAD_DOC.length, 4), PAYLOAD_DOC]),
    Buffer.concat([Buffer.from([3]), Buffer.from('né')]),
  ])
  const extra = Buffer.concat([Buffer.from([1]), le(3, 2)])
  return event(EventType.WriteRowsV2, rowsBody(42, 3, [image], { version: 2, extra }), { crc })
}

/** The events a TRANSACTION_PAYLOAD carries (no CRC): BEGIN, TABLE_MAP, WRITE_ROWS v2, XID. */
export function payloadInnerEvents(): Buffer {
  const begin = Buffer.concat([
    le(1, 4),
    le(0, 4),
    Buffer.from([3]),
    le(0, 2),
    le(0, 2),
    Buffer.from('app\0BEGIN'),
  ])
  return Buffer.concat([
    event(EventType.Query, begin, { crc: false }),
    docsTableMap(false),
    docsWriteRows(false),
    event(EventType.Xid, le(99, 8), { crc: false }),
  ])
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const inner = payloadInnerEvents()
  const zstd = execFileSync('zstd', ['-q', '-c', '-19', '--no-check'], { input: inner })
  const out = new URL('../../../../fixtures/binlog/mysql-8.0/transaction-payload.json', import.meta.url)
  writeFileSync(
    out,
    JSON.stringify(
      {
        description:
          'TRANSACTION_PAYLOAD contents: QUERY BEGIN, TABLE_MAP app.docs, WRITE_ROWS v2, XID, built by ' +
          'test/unit/connectors/mysql/binlog/mysql8-build.ts and compressed with the zstd CLI (fzstd only decompresses)',
        innerHex: inner.toString('hex'),
        zstdHex: zstd.toString('hex'),
      },
      null,
      1,
    ) + '\n',
  )
}
