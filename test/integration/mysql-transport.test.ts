import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { crc32 } from 'node:zlib'
import { SluiceError } from '../../pipeline/errors.js'
import {
  BinlogStream,
  Command,
  DumpFlag,
  encodeBinlogDump,
  encodeBinlogDumpGtid,
  encodeGtidSet,
  encodeRegisterSlave,
  parseErrPacket,
  type BinlogStart,
  type BinlogStreamOptions,
} from '../../connectors/mysql/replication.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'

/** Binlog event type codes the tests look for (MariaDB 10.11 writes v1 rows events). */
const T = {
  QUERY: 2,
  ROTATE: 4,
  FORMAT_DESCRIPTION: 15,
  XID: 16,
  TABLE_MAP: 19,
  WRITE_ROWS_V1: 23,
  HEARTBEAT: 27,
  MARIADB_GTID: 162,
  MARIADB_GTID_LIST: 163,
} as const
/** LOG_EVENT_ARTIFICIAL_F: made up by the dump thread (the first ROTATE), not in the file. */
const ARTIFICIAL = 0x20
const CRC_LEN = 4

interface Header {
  type: number
  serverId: number
  size: number
  endLogPos: number
  flags: number
}

/** The 19-byte common header: timestamp u32, type u8, server_id u32, size u32, end_log_pos u32, flags u16. */
const header = (ev: Buffer): Header => ({
  type: ev[4]!,
  serverId: ev.readUInt32LE(5),
  size: ev.readUInt32LE(9),
  endLogPos: ev.readUInt32LE(13),
  flags: ev.readUInt16LE(17),
})
const crcOk = (ev: Buffer): boolean =>
  crc32(ev.subarray(0, ev.length - CRC_LEN)) === ev.readUInt32LE(ev.length - CRC_LEN)
/** MariaDB GTID event body: seq_no u64, domain_id u32, flags u8; the server id is in the header. */
const gtidOf = (ev: Buffer): string =>
  `${ev.readUInt32LE(19 + 8)}-${ev.readUInt32LE(5)}-${ev.readBigUInt64LE(19)}`
/** ROTATE body: position u64, then the next file's name (then the CRC). */
const rotateTarget = (ev: Buffer): string => ev.toString('latin1', 19 + 8, ev.length - CRC_LEN)

async function waitFor<V>(
  check: () => V | Promise<V>,
  what: string,
  timeoutMs = 15_000,
): Promise<NonNullable<V>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v as NonNullable<V>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The promise's value, or 'hang' after `ms` (the timer is cleared, so it keeps nothing alive). */
async function within<V>(p: Promise<V>, ms: number): Promise<V | 'hang'> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<'hang'>((r) => (timer = setTimeout(() => r('hang'), ms)))
  try {
    return await Promise.race([p, t])
  } finally {
    clearTimeout(timer)
  }
}

let db: MariaServer
let nextServerId = 100

/** A stream that collects events; `done` is the start() promise, caught so it never goes unhandled. */
interface Collector {
  stream: BinlogStream
  events: Buffer[]
  done: Promise<SluiceError | null>
}

async function collect(
  from: BinlogStart | 'current',
  opts: Partial<BinlogStreamOptions> = {},
): Promise<Collector> {
  const stream = new BinlogStream({ url: db.url, serverId: opts.serverId ?? nextServerId++, ...opts })
  await stream.connect()
  const start = from === 'current' ? await stream.currentPosition() : from
  const events: Buffer[] = []
  const done = stream.start(start, { onEvent: (ev) => events.push(ev) }).then(
    () => null,
    (err: SluiceError) => err,
  )
  return { stream, events, done }
}

const types = (evs: Buffer[]): number[] => evs.map((e) => header(e).type)

describe('binlog packet encoders', () => {
  test('COM_BINLOG_DUMP is 0x12, pos u32, flags u16, server_id u32, file name to the end', () => {
    const b = encodeBinlogDump({
      position: 0x01020304,
      flags: DumpFlag.NON_BLOCK,
      serverId: 7,
      file: 'binlog.000042',
    })
    assert.equal(b[0], Command.BINLOG_DUMP)
    assert.equal(b.readUInt32LE(1), 0x01020304)
    assert.equal(b.readUInt16LE(5), 1)
    assert.equal(b.readUInt32LE(7), 7)
    assert.equal(b.toString('utf8', 11), 'binlog.000042')
    assert.equal(b.length, 11 + 13)
    assert.throws(() => encodeBinlogDump({ position: 2 ** 32, flags: 0, serverId: 1, file: '' }), RangeError)
  })

  test('COM_REGISTER_SLAVE is 0x15, server_id, three length-prefixed strings, port, rank, master id', () => {
    const b = encodeRegisterSlave({
      serverId: 0x0a0b0c0d,
      hostname: 'h1',
      user: 'cdc',
      password: '',
      port: 3306,
    })
    assert.deepEqual(
      [...b],
      [
        0x15, 0x0d, 0x0c, 0x0b, 0x0a, 2, 0x68, 0x31, 3, 0x63, 0x64, 0x63, 0, 0xea, 0x0c, 0, 0, 0, 0, 0, 0, 0,
        0,
      ],
    )
  })

  test('GTID sets encode as sorted SIDs with [start, end) intervals', () => {
    const a = '3e11fa47-71ca-11e1-9e33-c80aa9429562'
    const z = 'ffffffff-0000-0000-0000-000000000001'
    const b = encodeGtidSet(`${z}:5,\n${a}:1-3:7-9`)
    let o = 0
    const u64 = (): bigint => {
      const v = b.readBigUInt64LE(o)
      o += 8
      return v
    }
    assert.equal(u64(), 2n)
    assert.equal(b.toString('hex', o, o + 16), a.replace(/-/g, ''))
    o += 16
    assert.deepEqual([u64(), u64(), u64(), u64(), u64()], [2n, 1n, 4n, 7n, 10n])
    assert.equal(b.toString('hex', o, o + 16), z.replace(/-/g, ''))
    o += 16
    assert.deepEqual([u64(), u64(), u64()], [1n, 5n, 6n])
    assert.equal(o, b.length)
    assert.equal(encodeGtidSet('').length, 8)
    assert.throws(() => encodeGtidSet(`${a}:tag:1-3`), /tagged/)
    assert.throws(() => encodeGtidSet('nope:1'), /server uuid/)
  })

  test('COM_BINLOG_DUMP_GTID carries flags|THROUGH_GTID, server_id, file, pos u64 and the set', () => {
    const set = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3'
    const b = encodeBinlogDumpGtid({
      flags: DumpFlag.NON_BLOCK,
      serverId: 9,
      file: '',
      position: 4,
      gtidSet: set,
    })
    assert.equal(b[0], Command.BINLOG_DUMP_GTID)
    assert.equal(b.readUInt16LE(1), DumpFlag.NON_BLOCK | DumpFlag.THROUGH_GTID)
    assert.equal(b.readUInt32LE(3), 9)
    assert.equal(b.readUInt32LE(7), 0)
    assert.equal(b.readBigUInt64LE(11), 4n)
    const data = encodeGtidSet(set)
    assert.equal(b.readUInt32LE(19), data.length)
    assert.deepEqual(b.subarray(23), data)
  })

  test('ERR packets give errno, SQLSTATE and message', () => {
    const p = Buffer.concat([
      Buffer.from([0xff, 0xd4, 0x04]),
      Buffer.from('#HY000could not find first log file'),
    ])
    const e = parseErrPacket(p)
    assert.equal(e.errno, 1236)
    assert.equal(e.sqlState, 'HY000')
    assert.equal(e.message, 'could not find first log file')
  })
})

describe('binlog transport on MariaDB', () => {
  before(async () => {
    db = await startMariadb()
    console.log(`# mariadb started in ${db.startMs} ms`)
    await db.sql('CREATE DATABASE shop')
    await db.sql(
      'CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, customer VARCHAR(40), note TEXT) ENGINE=InnoDB',
    )
  })
  after(async () => {
    await db?.stop()
  })

  /** Three single-row transactions from the first test, for the resume tests. */
  let history: Buffer[] = []
  let historyFile = ''

  test('events from the current position: ROTATE, FDE, then GTID/TABLE_MAP/WRITE_ROWS/XID, all CRC32-valid', async () => {
    const c = await collect('current', { heartbeatMs: 1000 })
    assert.equal(c.stream.server.flavour, 'mariadb')
    assert.equal(c.stream.server.checksum, 'CRC32')
    const pos = await db.sql<{ File: string }>('SHOW MASTER STATUS')
    historyFile = pos[0]!.File
    for (const name of ['ann', 'bob', 'cat']) {
      await db.sql('INSERT INTO shop.orders (customer, note) VALUES (?, ?)', [name, `note ${name}`])
    }
    await waitFor(() => types(c.events).filter((t) => t === T.XID).length === 3, 'three XIDs')
    await c.stream.end()
    assert.equal(await c.done, null)

    const [rotate, fde, ...rest] = c.events
    assert.equal(header(rotate!).type, T.ROTATE)
    assert.ok(header(rotate!).flags & ARTIFICIAL, 'the first ROTATE is artificial')
    assert.equal(rotateTarget(rotate!), historyFile)
    assert.equal(header(fde!).type, T.FORMAT_DESCRIPTION)
    assert.equal(c.stream.eventChecksum, 'CRC32')
    const tx = [T.MARIADB_GTID, T.TABLE_MAP, T.WRITE_ROWS_V1, T.XID]
    assert.deepEqual(types(rest), [...tx, ...tx, ...tx])
    for (const ev of c.events) assert.equal(header(ev).size, ev.length)
    // With CRC32 declared, the artificial ROTATE (before any FDE) and the FDE carry valid CRCs too.
    for (const ev of c.events) assert.ok(crcOk(ev), `CRC32 of a type ${header(ev).type} event`)
    history = rest
  })

  test('resume by file/position from an end_log_pos delivers exactly the later events', async () => {
    const firstXid = history.find((e) => header(e).type === T.XID)!
    const c = await collect(
      { file: historyFile, position: header(firstXid).endLogPos },
      { nonBlocking: true },
    )
    assert.equal(await c.done, null, 'a non-blocking dump ends with EOF')
    const [rotate, fde, ...rest] = c.events
    assert.equal(header(rotate!).type, T.ROTATE)
    assert.equal(header(fde!).type, T.FORMAT_DESCRIPTION)
    const later = history.slice(history.indexOf(firstXid) + 1)
    assert.equal(rest.length, later.length)
    rest.forEach((ev, i) => assert.ok(ev.equals(later[i]!), `event ${i} is byte-identical`))
  })

  test('resume by GTID (@slave_connect_state) delivers the transactions after it', async () => {
    const gtids = history.filter((e) => header(e).type === T.MARIADB_GTID)
    const c = await collect({ gtid: gtidOf(gtids[0]!) }, { nonBlocking: true })
    assert.equal(await c.done, null)
    const got = c.events.filter((e) => header(e).type === T.MARIADB_GTID).map(gtidOf)
    assert.deepEqual(got, [gtidOf(gtids[1]!), gtidOf(gtids[2]!)])
    const fromSecond = c.events.slice(c.events.findIndex((e) => header(e).type === T.MARIADB_GTID))
    const later = history.slice(history.indexOf(gtids[1]!))
    assert.equal(fromSecond.length, later.length)
    fromSecond.forEach((ev, i) => assert.ok(ev.equals(later[i]!), `event ${i} is byte-identical`))
  })

  test('FLUSH BINARY LOGS mid-stream delivers a ROTATE and continues in the new file', async () => {
    const c = await collect('current', { register: true })
    const hosts = await db.sql<{ Server_id: number }>('SHOW SLAVE HOSTS')
    assert.ok(
      hosts.some((h) => Number(h.Server_id) === nextServerId - 1),
      'COM_REGISTER_SLAVE made the stream visible',
    )
    await db.sql("INSERT INTO shop.orders (customer) VALUES ('before-rotate')")
    await db.sql('FLUSH BINARY LOGS')
    const [{ File: newFile }] = (await db.sql<{ File: string }>('SHOW MASTER STATUS')) as [{ File: string }]
    await db.sql("INSERT INTO shop.orders (customer) VALUES ('after-rotate')")
    await waitFor(() => types(c.events).filter((t) => t === T.XID).length === 2, 'two XIDs')
    await c.stream.end()
    // Observed on MariaDB 10.11: the real ROTATE (end of the old file), then an artificial
    // ROTATE naming the new file, then the new file's real FDE, GTID_LIST, BINLOG_CHECKPOINT.
    const realAt = c.events.findIndex((e) => header(e).type === T.ROTATE && !(header(e).flags & ARTIFICIAL))
    assert.ok(realAt > 0, 'a real ROTATE')
    const real = c.events[realAt]!
    assert.equal(rotateTarget(real), newFile)
    assert.ok(crcOk(real))
    const after = c.events.slice(realAt + 1)
    assert.equal(header(after[0]!).type, T.ROTATE)
    assert.ok(header(after[0]!).flags & ARTIFICIAL)
    assert.equal(rotateTarget(after[0]!), newFile)
    assert.equal(header(after[1]!).type, T.FORMAT_DESCRIPTION, 'the new file starts with its FDE')
    assert.ok(header(after[1]!).endLogPos > 0, 'a real FDE (end_log_pos 256), not an artificial one')
    const rowTx: number[] = [T.MARIADB_GTID, T.WRITE_ROWS_V1, T.XID]
    assert.deepEqual(
      types(after).filter((t) => rowTx.includes(t)),
      rowTx,
    )
  })

  test('pause() stops delivery while the server keeps writing; resume() loses nothing', async () => {
    await db.sql('CREATE TABLE shop.bulk (id INT PRIMARY KEY, pad VARCHAR(2000))')
    const rows = 1500
    const c = await collect('current')
    await waitFor(() => types(c.events).includes(T.FORMAT_DESCRIPTION), 'the stream to run')
    c.stream.pause()
    assert.ok(c.stream.isPaused)
    const before = c.events.length
    // About 3 MB of binlog, far more than the socket buffers hold.
    for (let i = 0; i < rows; i += 100) {
      const values = Array.from({ length: 100 }, (_, k) => `(${i + k}, REPEAT('p', 2000))`).join(',')
      await db.sql(`INSERT INTO shop.bulk VALUES ${values}`)
    }
    for (let i = 0; i < 15; i++) await db.sql('INSERT INTO shop.orders (customer) VALUES (?)', [`late ${i}`])
    await sleep(300)
    assert.equal(c.events.length, before, 'nothing delivered while paused')
    const [status] = await db.sql<{ Position: number }>('SHOW MASTER STATUS')
    assert.ok(Number(status!.Position) > 3_000_000, 'the server kept writing')
    c.stream.resume()
    await waitFor(
      () => c.events.filter((e) => header(e).type === T.XID).length === rows / 100 + 15,
      'every transaction after resume',
    )
    await c.stream.end()
    assert.equal(await c.done, null)
    const gtids = c.events.filter((e) => header(e).type === T.MARIADB_GTID).map((e) => e.readBigUInt64LE(19))
    gtids.forEach((g, i) => i > 0 && assert.equal(g, gtids[i - 1]! + 1n, 'consecutive GTIDs, none lost'))
    for (const ev of c.events.slice(2)) assert.ok(crcOk(ev))
  })

  test('a 20 MB row event arrives intact', async () => {
    await db.sql('CREATE TABLE shop.big (id INT PRIMARY KEY, b LONGBLOB)')
    const c = await collect('current')
    await db.sql("INSERT INTO shop.big VALUES (1, REPEAT('z', 20 * 1024 * 1024))")
    await waitFor(() => types(c.events).includes(T.XID), 'the XID')
    await c.stream.end()
    const rows = c.events.find((e) => header(e).type === T.WRITE_ROWS_V1)!
    assert.ok(rows.length > 20 * 1024 * 1024, `event of ${rows.length} bytes`)
    assert.equal(header(rows).size, rows.length)
    assert.ok(crcOk(rows))
    assert.ok(rows.includes(Buffer.alloc(1 << 20, 'z')))
  })

  test('a second stream with the same server_id stops the first with MYSQL_DUPLICATE_SERVER_ID', async () => {
    const a = await collect('current', { serverId: 4242 })
    await sleep(100)
    const b = await collect('current', { serverId: 4242 })
    const err = await within(a.done, 10_000)
    assert.ok(err instanceof SluiceError, `got ${String(err)}`)
    assert.equal(err.code, 'MYSQL_DUPLICATE_SERVER_ID')
    assert.equal(err.retriable, false)
    await db.sql("INSERT INTO shop.orders (customer) VALUES ('dup')")
    await waitFor(() => types(b.events).includes(T.XID), 'the newer stream still streams')
    await b.stream.end()
    await a.stream.end()
  })

  test('a killed connection fails the stream with retriable MYSQL_CONNECTION_LOST', async () => {
    const c = await collect('current')
    await sleep(50)
    await db.sql(`KILL ${c.stream.server.threadId}`)
    const err = await within(c.done, 10_000)
    assert.ok(err instanceof SluiceError, `got ${String(err)}`)
    assert.equal(err.code, 'MYSQL_CONNECTION_LOST')
    assert.equal(err.retriable, true)
    await c.stream.end()
  })

  test('resuming from a purged binlog fails with MYSQL_BINLOG_PURGED', async () => {
    const [{ File: old }] = (await db.sql<{ File: string }>('SHOW MASTER STATUS')) as [{ File: string }]
    await db.sql('FLUSH BINARY LOGS')
    const [{ File: now }] = (await db.sql<{ File: string }>('SHOW MASTER STATUS')) as [{ File: string }]
    // The server keeps files a dump thread still reads (threads of ended streams exit
    // asynchronously), so purge until the old file is really gone.
    await waitFor(async () => {
      await db.sql(`PURGE BINARY LOGS TO '${now}'`)
      const logs = await db.sql<{ Log_name: string }>('SHOW BINARY LOGS')
      return !logs.some((l) => l.Log_name === old)
    }, `purge of ${old}`)
    const c = await collect({ file: old, position: 4 })
    const err = await within(c.done, 10_000)
    assert.ok(err instanceof SluiceError, `got ${String(err)}`)
    assert.equal(err.code, 'MYSQL_BINLOG_PURGED')
    assert.equal(err.retriable, false)
    assert.match(err.message, /errno 1236/)
    await c.stream.end()
  })

  test('heartbeats arrive on an idle stream; a silent server fails it with MYSQL_CONNECTION_LOST', async () => {
    const c = await collect('current', { heartbeatMs: 200 })
    await waitFor(() => types(c.events).includes(T.HEARTBEAT), 'a HEARTBEAT event')
    const pid = db.pid!
    process.kill(pid, 'SIGSTOP') // a half-open link: the socket stays up, nothing arrives
    try {
      const err = await within(c.done, 10_000)
      assert.ok(err instanceof SluiceError, `got ${String(err)}`)
      assert.equal(err.code, 'MYSQL_CONNECTION_LOST')
      assert.equal(err.retriable, true)
      assert.match(err.message, /600 ms/)
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    await c.stream.end()
  })

  test('wrong credentials fail connect() with MYSQL_AUTH_FAILED', async () => {
    const stream = new BinlogStream({ url: db.urlFor('', 'root', 'wrong'), serverId: 99 })
    await assert.rejects(stream.connect(), (err: SluiceError) => {
      assert.equal(err.code, 'MYSQL_AUTH_FAILED')
      assert.equal(err.retriable, false)
      return true
    })
  })

  test('a server restart fails the stream with an error, not a hang', async () => {
    const c = await collect('current', { heartbeatMs: 500 })
    await sleep(50)
    await db.restart()
    const err = await within(c.done, 15_000)
    assert.ok(err instanceof SluiceError, `got ${String(err)}`)
    assert.equal(err.code, 'MYSQL_CONNECTION_LOST')
    assert.equal(err.retriable, true)
    await c.stream.end()
  })
})
