import type { GtidSetEntry, MariadbGtid } from './binlog/index.js'
import type { Flavour } from './replication.js'

/**
 * The GTID state a replica connects with, tracked along the binlog so every position can
 * say where a GTID dump would resume it.
 *
 * MariaDB: a `domain-server-seq` list with one GTID per replication domain, the last
 * transaction completed in that domain (`@slave_connect_state`). A transaction's GTID
 * replaces its domain's entry; the other domains stay. The server streams, per domain,
 * the groups after that domain's entry.
 *
 * MySQL: a GTID set (`uuid:1-5:7-9,uuid2:1-3`), every transaction executed; a transaction's
 * `uuid:gno` is added to it (COM_BINLOG_DUMP_GTID streams the transactions not in it).
 */
export interface GtidState {
  /** The state text ('' while unknown). */
  toString(): string
  /** Whether the state is known (a start state was set). */
  readonly known: boolean
  /** Replaces the state (a snapshot's or a GTID dump's start state); null: unknown. */
  reset(text: string | null): void
  /** A transaction with this GTID completed. Ignored while the state is unknown. */
  add(gtid: string): void
  /**
   * MariaDB GTID_LIST event (the binlog state at a file start, or the connect state at the
   * start of a GTID dump): taken when the state is unknown, otherwise merged (a domain only
   * moves forward), so an older list never moves the state back.
   */
  fromMariadbList(list: readonly MariadbGtid[]): void
  /** MySQL PREVIOUS_GTIDS event (the GTIDs executed before a file): taken, or united with the state. */
  fromMysqlSets(sets: readonly GtidSetEntry[]): void
}

/** A GTID state for the server family. */
export function gtidState(flavour: Flavour, text: string | null = null): GtidState {
  const s = flavour === 'mariadb' ? new MariadbGtidState() : new MysqlGtidSet()
  s.reset(text)
  return s
}

const MARIADB_GTID = /^(\d+)-(\d+)-(\d+)$/

/** MariaDB: one `domain-server-seq` per domain, printed in domain order. */
export class MariadbGtidState implements GtidState {
  private readonly domains = new Map<number, { gtid: string; seq: bigint }>()
  private text = ''
  private isKnown = false

  get known(): boolean {
    return this.isKnown
  }

  toString(): string {
    return this.text
  }

  reset(text: string | null): void {
    this.domains.clear()
    const t = (text ?? '').replace(/\s+/g, '')
    this.isKnown = text !== null
    for (const part of t.split(',')) {
      if (part === '') continue
      const m = MARIADB_GTID.exec(part)
      if (!m) throw new Error(`invalid MariaDB GTID position '${text}': '${part}' is not domain-server-seq`)
      this.put(Number(m[1]), part, BigInt(m[3]!))
    }
    this.render()
  }

  add(gtid: string): void {
    if (!this.isKnown) return
    const m = MARIADB_GTID.exec(gtid)
    if (!m) return
    const domain = Number(m[1])
    // One domain (the usual case): the state is just this GTID.
    if (this.domains.size === 0 || (this.domains.size === 1 && this.domains.has(domain))) {
      this.domains.set(domain, { gtid, seq: BigInt(m[3]!) })
      this.text = gtid
      return
    }
    this.domains.set(domain, { gtid, seq: BigInt(m[3]!) })
    this.render()
  }

  fromMariadbList(list: readonly MariadbGtid[]): void {
    // The list holds the last GTID of every (domain, server) pair; the domain's position is
    // its highest sequence number (sequence numbers grow within a domain).
    if (!this.isKnown) this.domains.clear()
    for (const g of list) this.put(g.domainId, `${g.domainId}-${g.serverId}-${g.seqNo}`, g.seqNo)
    this.isKnown = true
    this.render()
  }

  fromMysqlSets(): void {
    // Not a MariaDB event.
  }

  private put(domain: number, gtid: string, seq: bigint): void {
    const cur = this.domains.get(domain)
    if (!cur || seq >= cur.seq) this.domains.set(domain, { gtid, seq })
  }

  private render(): void {
    this.text = [...this.domains.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, v]) => v.gtid)
      .join(',')
  }
}

/** MySQL: a GTID set as sorted, merged [first, last] intervals per source UUID. */
export class MysqlGtidSet implements GtidState {
  private readonly sids = new Map<string, [bigint, bigint][]>()
  private text = ''
  private dirty = false
  private isKnown = false

  get known(): boolean {
    return this.isKnown
  }

  toString(): string {
    if (this.dirty) this.render()
    return this.text
  }

  reset(text: string | null): void {
    this.sids.clear()
    const t = (text ?? '').replace(/\s+/g, '')
    this.isKnown = text !== null
    for (const part of t.split(',')) {
      if (part === '') continue
      const [uuid, ...ranges] = part.split(':')
      const sid = (uuid ?? '').toLowerCase()
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(sid) || ranges.length === 0)
        throw new Error(`invalid GTID set '${text}': '${part}' is not uuid:interval[:interval...]`)
      for (const r of ranges) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(r)
        if (!m)
          throw new Error(
            `invalid GTID set '${text}': '${r}' is not an interval (tagged GTIDs are not supported)`,
          )
        const first = BigInt(m[1]!)
        const last = BigInt(m[2] ?? m[1]!)
        if (first < 1n || last < first) throw new Error(`invalid GTID set '${text}': bad interval '${r}'`)
        this.addRange(sid, first, last)
      }
    }
    this.render()
  }

  add(gtid: string): void {
    if (!this.isKnown) return
    const i = gtid.lastIndexOf(':')
    if (i < 0) return
    const gno = BigInt(gtid.slice(i + 1))
    this.addRange(gtid.slice(0, i).toLowerCase(), gno, gno)
    this.dirty = true
  }

  fromMariadbList(): void {
    // Not a MySQL event.
  }

  fromMysqlSets(sets: readonly GtidSetEntry[]): void {
    if (!this.isKnown) this.sids.clear()
    // PREVIOUS_GTIDS intervals are [start, end): end is exclusive.
    for (const s of sets) for (const [start, end] of s.intervals) this.addRange(s.sid, start, end - 1n)
    this.isKnown = true
    this.render()
  }

  private addRange(sid: string, first: bigint, last: bigint): void {
    let list = this.sids.get(sid)
    if (!list) this.sids.set(sid, (list = []))
    const tail = list[list.length - 1]
    // The common case: the next transaction of the newest interval.
    if (tail && first >= tail[0] && first <= tail[1] + 1n) {
      if (last > tail[1]) tail[1] = last
      return
    }
    list.push([first, last])
    list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    const merged: [bigint, bigint][] = []
    for (const iv of list) {
      const prev = merged[merged.length - 1]
      if (prev && iv[0] <= prev[1] + 1n) {
        if (iv[1] > prev[1]) prev[1] = iv[1]
      } else merged.push([iv[0], iv[1]])
    }
    this.sids.set(sid, merged)
  }

  private render(): void {
    this.dirty = false
    this.text = [...this.sids.keys()]
      .sort()
      .map(
        (sid) =>
          `${sid}:${this.sids
            .get(sid)!
            .map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))
            .join(':')}`,
      )
      .join(',')
  }
}
