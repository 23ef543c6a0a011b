/**
 * MySQL/MariaDB positions. The binlog is a numbered series of files (`binlog.000007`),
 * each addressed by byte offset; a Sluice position is a sortable string:
 *
 *   <file sequence, 10 digits>.<transaction start offset, 16 digits>.<phase>.<index, 12 digits>;<file>;<gtid>[;<resume>[;<base>]]
 *
 * The part before the first `;` is the sort key; the file name (needed to resume with
 * COM_BINLOG_DUMP) and the GTIDs ride alongside and never decide an order: two positions
 * with the same key come from the same transaction, so they are equal too.
 *
 * Two GTID fields, because they mean different things:
 * - `<gtid>`: in streaming positions the GTID of the transaction that holds the event
 *   (`0-1-24420`, `uuid:57`; '' when the server has none), as in the `source` block; in
 *   snapshot positions the GTID state of the snapshot point.
 * - `<resume>`: the GTID state a replica connects with to resume *at this position*
 *   (MariaDB `@slave_connect_state`, one `domain-server-seq` per domain; MySQL the
 *   executed GTID set). For a row of a transaction (index < END) it is the state *before*
 *   the transaction, everything completed up to it, so a GTID dump re-reads the
 *   transaction and the rows up to the index are skipped; at index END (the transaction
 *   was delivered whole) it is the state *including* the transaction, so the dump starts
 *   after it; for a snapshot position, the snapshot point's state. Empty (or absent, in
 *   positions written before GTID resume existed) when unknown: such positions resume by
 *   file and offset.
 *
 * `<base>` (absent = 0) is added to the file sequence in the sort key. It is raised when
 * the server's coordinates would sort at or before a stored position although they come
 * later (binlog files renumbered: a failover to a replica that numbers its files lower,
 * RESET MASTER), so positions keep increasing for the state store and the sinks.
 *
 * phase `0` = snapshot (the coordinates are the snapshot's binlog point, the index counts
 * rows over all tables), phase `1` = streaming (the offset is where the transaction's
 * first event, the GTID event, starts; the index is the row's place in the transaction).
 * Resuming re-reads the transaction from its start and skips rows up to the index. Index
 * END (all nines) marks "the whole transaction / snapshot", the checkpoint after its last
 * row.
 */

/** Phase of positions taken during the snapshot. */
export const PHASE_SNAPSHOT = '0'
/** Phase of positions taken while streaming the binlog. */
export const PHASE_STREAM = '1'
/** Index meaning "the whole transaction / snapshot". */
export const END = 999_999_999_999

const SEQ_WIDTH = 10
/** 16 digits: offsets are JS numbers, exact below 2^53 (about 9e15) bytes. */
const OFFSET_WIDTH = 16
const INDEX_WIDTH = 12
const SEP = ';'

/** A parsed MySQL position. */
export interface MysqlPosition {
  /** Binlog file name as the server reports it (`binlog.000007`). */
  readonly file: string
  /** Byte offset of the transaction's start (streaming) or of the snapshot point. */
  readonly offset: number
  readonly phase: string
  readonly index: number
  /** Streaming: the transaction's GTID; snapshot: the point's GTID state ('' when none). Not part of the order. */
  readonly gtid: string
  /** GTID state to connect with to resume at this position ('' or absent: unknown). */
  readonly resume?: string
  /** Added to the file sequence in the sort key (absent: 0). */
  readonly base?: number
}

/** The numeric suffix of a binlog file name (`binlog.000007` → 7). */
export function fileSequence(file: string): number {
  const m = /\.(\d+)$/.exec(file)
  if (!m) throw new Error(`binlog file name '${file}' has no numeric suffix`)
  const n = Number(m[1])
  if (n >= 10 ** SEQ_WIDTH) throw new Error(`binlog file sequence of '${file}' is too large`)
  return n
}

/** Builds a position string; whitespace in the GTID (MySQL prints sets over lines) is dropped. */
export function formatPosition(p: MysqlPosition): string {
  if (p.file.includes(SEP)) throw new Error(`binlog file name '${p.file}' contains '${SEP}'`)
  if (!Number.isSafeInteger(p.offset) || p.offset < 0) throw new Error(`invalid binlog offset ${p.offset}`)
  if (!Number.isSafeInteger(p.index) || p.index < 0 || p.index > END)
    throw new Error(`invalid index ${p.index}`)
  if (p.phase !== PHASE_SNAPSHOT && p.phase !== PHASE_STREAM) throw new Error(`invalid phase '${p.phase}'`)
  const base = p.base ?? 0
  const seq = fileSequence(p.file) + base
  if (!Number.isSafeInteger(base) || base < 0 || seq >= 10 ** SEQ_WIDTH)
    throw new Error(`invalid base ${base}`)
  const key = `${String(seq).padStart(SEQ_WIDTH, '0')}.${String(p.offset).padStart(OFFSET_WIDTH, '0')}.${p.phase}.${String(p.index).padStart(INDEX_WIDTH, '0')}`
  return `${key}${SEP}${p.file}${SEP}${p.gtid.replace(/\s+/g, '')}${tail(p.resume ?? '', base)}`
}

/** The optional `;<resume>;<base>` fields (omitted when empty / 0). */
function tail(resume: string, base: number): string {
  const r = resume.replace(/\s+/g, '')
  if (base !== 0) return `${SEP}${r}${SEP}${base}`
  return r ? `${SEP}${r}` : ''
}

const KEY = /^(\d{10})\.(\d{16})\.([01])\.(\d{12});([^;]+);([^;]*)(?:;([^;]*)(?:;(\d+))?)?$/

/** Parses a position made by formatPosition; throws on anything else. */
export function parsePosition(text: string): MysqlPosition {
  const m = KEY.exec(text)
  if (!m) throw new Error(`invalid mysql position '${text}'`)
  const file = m[5]!
  const base = m[8] ? Number(m[8]) : 0
  if (fileSequence(file) + base !== Number(m[1]))
    throw new Error(`invalid mysql position '${text}': file does not match`)
  const p: MysqlPosition = { file, offset: Number(m[2]), phase: m[3]!, index: Number(m[4]), gtid: m[6]! }
  if (m[7] === undefined) return p
  return base ? { ...p, resume: m[7], base } : { ...p, resume: m[7] }
}

/** The sort key of a position (everything before the file name). */
export function sortKey(text: string): string {
  const i = text.indexOf(SEP)
  return i < 0 ? text : text.slice(0, i)
}

/** Orders two positions: negative, 0 or positive. Equal keys compare equal whatever follows. */
export function comparePositions(a: string, b: string): number {
  const ka = sortKey(a)
  const kb = sortKey(b)
  return ka < kb ? -1 : ka > kb ? 1 : 0
}

/**
 * Fast position builder for one transaction: the key prefix and the suffix are formatted
 * once, and each row only pads its index.
 */
export function positionBuilder(
  file: string,
  offset: number,
  phase: string,
  gtid: string,
  resume = '',
  base = 0,
): (index: number) => string {
  const sample = formatPosition({ file, offset, phase, index: 0, gtid, resume, base })
  const i = sample.indexOf(SEP)
  const prefix = sample.slice(0, i - INDEX_WIDTH)
  const suffix = sample.slice(i)
  return (index) => prefix + String(index).padStart(INDEX_WIDTH, '0') + suffix
}
