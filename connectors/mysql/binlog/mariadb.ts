/**
 * MariaDB-only events: GTID (162), GTID_LIST (163), BINLOG_CHECKPOINT (161), ANNOTATE_ROWS
 * (160). QUERY_COMPRESSED (165) and the compressed rows events (166–171) are read by
 * control.ts and rows.ts, which share the zlib envelope.
 */
import { MariadbGtidExtraFlag, MariadbGtidFlag } from './codes.js'
import type {
  BinlogCheckpointEvent,
  EventHeader,
  MariadbGtid,
  MariadbGtidEvent,
  MariadbGtidListEvent,
  RowsQueryEvent,
  XaXid,
} from './events.js'
import type { Reader } from './reader.js'

/**
 * GTID_EVENT: seq_no u64, domain_id u32, flags u8; commit_id u64 if FL_GROUP_COMMIT_ID;
 * an XID (formatID u32, gtrid_len u8, bqual_len u8, gtrid + bqual) if FL_PREPARED_XA or
 * FL_COMPLETED_XA; then, when bytes remain (10.8+), flags_extra u8 with extra_engines u8
 * (MultiEngine) and sa_seq_no u64 (Commit/RollbackAlter). Without those the body is padded
 * with zeros to the 19-byte post-header, which reads as flags_extra = 0.
 */
export function readMariadbGtid(r: Reader, header: EventHeader): MariadbGtidEvent {
  const seqNo = r.u64('seq_no')
  const domainId = r.u32('domain_id')
  const flags = r.u8('flags')
  const commitId = flags & MariadbGtidFlag.GroupCommitId ? r.u64('commit_id') : null
  let xid: XaXid | null = null
  if (flags & (MariadbGtidFlag.PreparedXa | MariadbGtidFlag.CompletedXa)) {
    const formatId = r.u32('XID formatID')
    const gtridLen = r.u8('XID gtrid_length')
    const bqualLen = r.u8('XID bqual_length')
    if (gtridLen > 64 || bqualLen > 64) r.fail(`XID lengths ${gtridLen}/${bqualLen} exceed 64`)
    xid = { formatId, gtrid: r.bytes(gtridLen, 'XID gtrid'), bqual: r.bytes(bqualLen, 'XID bqual') }
  }
  let flagsExtra = 0
  let extraEngines: number | null = null
  let startAlterSeqNo: bigint | null = null
  if (r.remaining > 0) {
    flagsExtra = r.u8('flags_extra')
    if (flagsExtra & MariadbGtidExtraFlag.MultiEngine) extraEngines = r.u8('extra_engines')
    if (flagsExtra & (MariadbGtidExtraFlag.CommitAlter | MariadbGtidExtraFlag.RollbackAlter)) {
      startAlterSeqNo = r.u64('sa_seq_no')
    }
  }
  // Anything after (padding, fields of newer servers) is ignored.
  r.pos = r.end
  return {
    type: 'mariadbGtid',
    header,
    domainId,
    serverId: header.serverId,
    seqNo,
    gtid: `${domainId}-${header.serverId}-${seqNo}`,
    flags,
    standalone: (flags & MariadbGtidFlag.Standalone) !== 0,
    commitId,
    xid,
    flagsExtra,
    extraEngines,
    startAlterSeqNo,
  }
}

/** GTID_LIST_EVENT: count u32 (low 28 bits; top 4 are flags), then (domain u32, server u32, seq u64) per GTID. */
export function readMariadbGtidList(r: Reader, header: EventHeader): MariadbGtidListEvent {
  const raw = r.u32('count')
  const count = raw & 0x0fffffff
  if (count * 16 > r.remaining) r.fail(`GTID list of ${count} entries exceeds the event`)
  const gtids: MariadbGtid[] = []
  for (let i = 0; i < count; i++) {
    const domainId = r.u32('domain_id')
    const serverId = r.u32('server_id')
    gtids.push({ domainId, serverId, seqNo: r.u64('seq_no') })
  }
  return { type: 'mariadbGtidList', header, listFlags: raw >>> 28, gtids }
}

/** BINLOG_CHECKPOINT_EVENT: name length u32, then the name. */
export function readBinlogCheckpoint(r: Reader, header: EventHeader): BinlogCheckpointEvent {
  const len = r.u32('name length')
  return { type: 'binlogCheckpoint', header, logFile: r.utf8(len, 'log file name') }
}

/** ANNOTATE_ROWS_EVENT: the SQL text to the end. */
export function readAnnotateRows(r: Reader, header: EventHeader): RowsQueryEvent {
  return { type: 'rowsQuery', header, sql: r.utf8(r.remaining, 'SQL text') }
}
