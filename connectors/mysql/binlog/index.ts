/**
 * MySQL / MariaDB binlog decoder: pure, bytes in, events out (no sockets). Feed
 * BinlogDecoder.decode() each event of a replication stream (the packet after the OK
 * byte) or of a binlog file (see binlogFileEvents).
 */
export {
  BINLOG_MAGIC,
  CHECKSUM_LENGTH,
  ChecksumAlg,
  ColumnType,
  EventType,
  HEADER_LENGTH,
  LOG_EVENT_ARTIFICIAL_F,
  MariadbGtidExtraFlag,
  MariadbGtidFlag,
  MetadataField,
  PayloadCompression,
  PayloadField,
  RowsFlag,
} from './codes.js'
export { charsetNameOf, charsetOf, CharsetKind, decodeText, type Charset } from './charsets.js'
export { BinlogDecoder, type BinlogDecoderOptions } from './decoder.js'
export { BinlogDecodeError, type BinlogErrorContext } from './errors.js'
export type * from './events.js'
export { binlogFileEvents, type FileEvent } from './file.js'
export { jsonBinaryToText, JsonLiteral, JsonType } from './json-binary.js'
export { ExtraRowInfo } from './rows.js'
export type { PrimaryKeyPart, TableMap } from './table-map.js'
export {
  ABSENT,
  decodeDecimal,
  type BinlogValue,
  type ColumnInfo,
  type Flavour,
  type MysqlBit,
  type MysqlDate,
  type MysqlDateTime,
  type MysqlGeometry,
  type MysqlTime,
  type MysqlTimestamp,
  type RowImage,
  type UndecodedText,
} from './values.js'
