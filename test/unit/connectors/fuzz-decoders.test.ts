/**
 * Corrupt bytes, counted (issue #6): seeded random mutations of the real pgoutput and binlog
 * fixtures (bit flips, truncations, extensions, length-field corruptions, random bytes) fed
 * to the decoders. Each case must decode or throw the decoder's SluiceError with its code
 * (PG_DECODE_FAILED, MYSQL_BINLOG_DECODE_FAILED): never a TypeError or RangeError escaping,
 * never a hang, never an allocation sized by a corrupt length. SLUICE_FUZZ_SEED replays a
 * run, SLUICE_FUZZ_CASES scales it. Prints `# bad-input corrupt bytes <decoder>: ...`.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, writeSync } from 'node:fs'
import { describe, test } from 'node:test'
import { crc32 } from 'node:zlib'
import { SluiceError } from '../../../pipeline/errors.js'
import {
  BinlogDecodeError,
  BinlogDecoder,
  binlogFileEvents,
  EventType,
  PayloadCompression,
  PayloadField,
} from '../../../connectors/mysql/binlog/index.js'
import {
  decodePgoutput,
  PgoutputDecoder,
  PgoutputDecodeError,
} from '../../../connectors/postgres/pgoutput/index.js'
import { event, fde, lenenc } from './mysql/binlog/build.js'
import { payloadInnerEvents } from './mysql/binlog/mysql8-build.js'
import { prng } from '../../prng.js'

const SEED = Number(process.env.SLUICE_FUZZ_SEED || 20261121)
const CASES = Number(process.env.SLUICE_FUZZ_CASES || 10_000)

/** Lengths a corrupt field may claim: boundaries, sign bits, just past the buffer. */
const HOSTILE_U32 = [
  0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
]

type Mutation = 'bit flip' | 'truncation' | 'extension' | 'length field' | 'random bytes' | 'byte run'

/**
 * One seeded mutation of `src` (a copy). `from` is the first byte that may change (the binlog
 * header is left to the fix-up), `bigEndian` the byte order of length fields.
 */
function mutate(
  src: Buffer,
  rand: () => number,
  from: number,
  bigEndian: boolean,
): { buf: Buffer; kind: Mutation } {
  const b = Buffer.from(src)
  const at = (span = 1): number => from + Math.floor(rand() * Math.max(1, b.length - from - span + 1))
  const r = rand()
  if (r < 0.25) {
    const flips = 1 + Math.floor(rand() * 3)
    for (let i = 0; i < flips && b.length > from; i++) {
      const p = at()
      b[p] = b[p]! ^ (1 << Math.floor(rand() * 8))
    }
    return { buf: b, kind: 'bit flip' }
  }
  if (r < 0.45)
    return { buf: b.subarray(0, from + Math.floor(rand() * (b.length - from))), kind: 'truncation' }
  if (r < 0.55) {
    const extra = Buffer.alloc(1 + Math.floor(rand() * 16), Math.floor(rand() * 256))
    return { buf: Buffer.concat([b, extra]), kind: 'extension' }
  }
  if (r < 0.8 && b.length - from >= 4) {
    const p = at(4)
    const v = HOSTILE_U32[Math.floor(rand() * HOSTILE_U32.length)]!
    if (bigEndian) b.writeUInt32BE(v, p)
    else b.writeUInt32LE(v, p)
    return { buf: b, kind: 'length field' }
  }
  if (r < 0.9) {
    for (let i = 0, n = 1 + Math.floor(rand() * 6); i < n && b.length > from; i++)
      b[at()] = Math.floor(rand() * 256)
    return { buf: b, kind: 'random bytes' }
  }
  const p = at()
  b.fill(rand() < 0.5 ? 0xff : 0x00, p, Math.min(b.length, p + 1 + Math.floor(rand() * 8)))
  return { buf: b, kind: 'byte run' }
}

/** Tally of one fuzz run. */
class Tally {
  decoded = 0
  rejected = 0
  readonly byKind = new Map<string, number>()
  readonly escaped: string[] = []
  slowestMs = 0
  private rssPeak = 0
  private readonly rssStart = process.memoryUsage().rss

  /** Runs one case: `decode` must return or throw `expected` (a SluiceError with `code`). */
  run(
    kind: string,
    what: string,
    decode: () => unknown,
    expected: new (...a: never[]) => SluiceError,
    code: string,
  ): void {
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1)
    // SLUICE_FUZZ_DEBUG=1 names each case before running it, to find one that crashes the process.
    if (process.env.SLUICE_FUZZ_DEBUG) writeSync(2, `${what} (${kind})\n`)
    const t0 = performance.now()
    try {
      decode()
      this.decoded++
    } catch (err) {
      if (err instanceof expected && err.code === code && err.message.length > 0) this.rejected++
      else if (this.escaped.length < 20)
        this.escaped.push(`${what} (${kind}): ${(err as Error)?.stack ?? String(err)}`)
      else this.escaped.push('...')
    }
    this.slowestMs = Math.max(this.slowestMs, performance.now() - t0)
    if ((this.decoded + this.rejected) % 256 === 0)
      this.rssPeak = Math.max(this.rssPeak, process.memoryUsage().rss)
  }

  get total(): number {
    return this.decoded + this.rejected + this.escaped.length
  }

  /** Growth of the resident set over the run, in MiB. */
  get rssGrowthMiB(): number {
    return Math.max(0, Math.max(this.rssPeak, process.memoryUsage().rss) - this.rssStart) / 2 ** 20
  }

  check(label: string): void {
    assert.deepEqual(this.escaped, [], `${label}: errors other than the decoder's own escaped (seed ${SEED})`)
    assert.ok(this.decoded > 0 && this.rejected > 0, `${label}: some cases decode, some are rejected`)
    // A hang or a corrupt length driving a loop would show as a slow case; an allocation
    // sized by a corrupt length as resident-set growth.
    assert.ok(this.slowestMs < 1000, `${label}: slowest case took ${this.slowestMs.toFixed(0)} ms`)
    assert.ok(this.rssGrowthMiB < 256, `${label}: resident set grew by ${this.rssGrowthMiB.toFixed(0)} MiB`)
    const kinds = [...this.byKind].map(([k, n]) => `${n} ${k}`).join(', ')
    console.log(
      `# bad-input corrupt bytes ${label}: ${this.total} cases (${kinds}), ${this.decoded} decoded, ${this.rejected} rejected with their code, 0 escaped; slowest ${this.slowestMs.toFixed(1)} ms, RSS +${this.rssGrowthMiB.toFixed(0)} MiB; seed ${SEED}`,
    )
  }
}

describe('corrupt bytes', () => {
  test('pgoutput: mutated fixture messages decode or throw PgoutputDecodeError (PG_DECODE_FAILED)', () => {
    // Every message of every captured fixture, with the stream state it was decoded in.
    const dir = new URL('../../fixtures/pgoutput/', import.meta.url)
    const messages: { buf: Buffer; proto: 1 | 2; streaming: boolean; where: string }[] = []
    for (const f of readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort()) {
      const fx = JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as {
        protoVersion: 1 | 2
        messages: { hex: string }[]
      }
      const d = new PgoutputDecoder(fx.protoVersion)
      fx.messages.forEach((m, i) => {
        const buf = Buffer.from(m.hex, 'hex')
        messages.push({ buf, proto: fx.protoVersion, streaming: d.streaming, where: `${f}#${i}` })
        d.decode(buf) // the originals decode
      })
    }
    assert.ok(messages.length > 50, `${messages.length} fixture messages`)
    const rand = prng(SEED)
    const tally = new Tally()
    for (let i = 0; i < CASES; i++) {
      const m = messages[Math.floor(rand() * messages.length)]!
      const { buf, kind } = mutate(m.buf, rand, 0, true)
      tally.run(
        kind,
        `${m.where} case ${i}`,
        () => decodePgoutput(buf, { protoVersion: m.proto, streaming: m.streaming }),
        PgoutputDecodeError,
        'PG_DECODE_FAILED',
      )
    }
    // Random garbage behind every tag byte.
    for (let tag = 0; tag < 256; tag++) {
      for (let n = 0; n < 8; n++) {
        const buf = Buffer.from([
          tag,
          ...Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)),
        ])
        tally.run(
          'random message',
          `tag ${tag}`,
          () => decodePgoutput(buf, { streaming: n % 2 === 1 }),
          PgoutputDecodeError,
          'PG_DECODE_FAILED',
        )
      }
    }
    tally.check('pgoutput')
  })

  test('binlog: mutated fixture events decode or throw BinlogDecodeError (MYSQL_BINLOG_DECODE_FAILED)', () => {
    // The MariaDB fixture files' events, and a MySQL 8 TRANSACTION_PAYLOAD (zstd).
    const events: { buf: Buffer; prime: Buffer[]; where: string }[] = []
    for (const f of ['binlog.000001', 'binlog.000002']) {
      const file = readFileSync(new URL(`../../fixtures/binlog/mariadb-10.11/${f}`, import.meta.url))
      const all = [...binlogFileEvents(file)].map((e) => Buffer.from(e.bytes))
      all.forEach((buf, i) => events.push({ buf, prime: all.slice(0, i), where: `${f}#${i}` }))
    }
    const fixture = JSON.parse(
      readFileSync(
        new URL('../../fixtures/binlog/mysql-8.0/transaction-payload.json', import.meta.url),
        'utf8',
      ),
    ) as { zstdHex: string }
    const inner = payloadInnerEvents()
    const zstd = Buffer.from(fixture.zstdHex, 'hex')
    const field = (t: number, v: number): Buffer => {
      const value = lenenc(v)
      return Buffer.concat([lenenc(t), lenenc(value.length), value])
    }
    const payload = event(
      EventType.TransactionPayload,
      Buffer.concat([
        field(PayloadField.CompressionType, PayloadCompression.Zstd),
        field(PayloadField.UncompressedSize, inner.length),
        field(PayloadField.PayloadSize, zstd.length),
        lenenc(PayloadField.End),
        zstd,
      ]),
    )
    for (let k = 0; k < 20; k++)
      events.push({ buf: payload, prime: [fde('8.0.36', 1)], where: 'mysql8 payload' })

    // A decoder primed with the events before each one (FDE, TABLE_MAPs), primed afresh every
    // 64 cases so that mutated TABLE_MAPs do not pile up in its cache.
    const primed = (prime: Buffer[]): BinlogDecoder => {
      const d = new BinlogDecoder()
      for (const p of prime) d.decode(p)
      return d
    }
    for (const e of events) primed([...e.prime, e.buf]) // the originals decode

    const rand = prng(SEED ^ 0x5eed)
    const tally = new Tally()
    const cache = new Map<string, BinlogDecoder>()
    for (let i = 0; i < CASES; i++) {
      const e = events[Math.floor(rand() * events.length)]!
      // Half the cases keep the header's size and CRC consistent, so the body parsers see the damage.
      const fixUp = rand() < 0.5
      const { buf, kind } = mutate(e.buf, rand, fixUp ? 19 : 0, false)
      if (fixUp && buf.length >= 23) {
        buf.writeUInt32LE(buf.length, 9)
        buf.writeUInt32LE(crc32(buf.subarray(0, buf.length - 4)), buf.length - 4)
      }
      let d = cache.get(e.where)
      if (!d || i % 64 === 0) cache.set(e.where, (d = primed(e.prime)))
      const decoder = d
      tally.run(
        `${kind}${fixUp ? ' (size+crc fixed)' : ''}`,
        `${e.where} case ${i}: ${buf.toString('hex')}`,
        () => decoder.decode(buf),
        BinlogDecodeError,
        'MYSQL_BINLOG_DECODE_FAILED',
      )
    }
    // The TRANSACTION_PAYLOAD's uncompressed size sizes the output buffer: corrupt values,
    // an absent field, and corrupt zstd frame headers (whose content size fzstd would allocate).
    const payloadWith = (size: number | null, frame: Buffer): Buffer =>
      event(
        EventType.TransactionPayload,
        Buffer.concat([
          field(PayloadField.CompressionType, PayloadCompression.Zstd),
          ...(size === null ? [] : [field(PayloadField.UncompressedSize, size)]),
          field(PayloadField.PayloadSize, frame.length),
          lenenc(PayloadField.End),
          frame,
        ]),
      )
    const mysql8 = primed([fde('8.0.36', 1)])
    const sizes = [
      null,
      0,
      1,
      inner.length - 1,
      inner.length + 1,
      2 ** 20,
      2 ** 29,
      2 ** 30 - 1,
      2 ** 30,
      2 ** 31,
      2 ** 40,
    ]
    for (const size of sizes) {
      for (let k = 0; k < 16; k++) {
        const frame = Buffer.from(zstd)
        // k = 0: the intact frame; else random bytes over the frame header (magic kept).
        for (let j = 0; j < k; j++) frame[4 + Math.floor(rand() * 10)] = Math.floor(rand() * 256)
        tally.run(
          `payload size ${size}`,
          `payload size ${size} frame mutation ${k}`,
          () => mysql8.decode(payloadWith(size, frame)),
          BinlogDecodeError,
          'MYSQL_BINLOG_DECODE_FAILED',
        )
      }
    }
    tally.check('binlog')
  })

  test('binlog: a rows event whose columns-present bitmap is empty is rejected, not looped on', () => {
    // Found by the fuzz above: an UPDATE_ROWS_EVENT_V1 of binlog.000001 with both bitmaps
    // zeroed read rows of no columns, zero bytes each, until the heap ran out.
    const file = readFileSync(new URL('../../fixtures/binlog/mariadb-10.11/binlog.000001', import.meta.url))
    const all = [...binlogFileEvents(file)].map((e) => Buffer.from(e.bytes))
    const d = new BinlogDecoder()
    for (let i = 0; i < 74; i++) d.decode(all[i]!)
    const bad = Buffer.from(
      'd365016b18010000002d00000019380000000017000000000001000700000100000000fe03006d696e324c93ff',
      'hex',
    )
    assert.throws(
      () => d.decode(bad),
      (e: unknown) =>
        e instanceof BinlogDecodeError &&
        e.code === 'MYSQL_BINLOG_DECODE_FAILED' &&
        /row image of no columns/.test(e.message),
    )
  })

  test('binlog: a TRANSACTION_PAYLOAD size that zstd cannot reach, or no size, is rejected before allocating', () => {
    const inner = payloadInnerEvents()
    const zstd = Buffer.from(
      (
        JSON.parse(
          readFileSync(
            new URL('../../fixtures/binlog/mysql-8.0/transaction-payload.json', import.meta.url),
            'utf8',
          ),
        ) as { zstdHex: string }
      ).zstdHex,
      'hex',
    )
    const field = (t: number, v: number): Buffer => {
      const value = lenenc(v)
      return Buffer.concat([lenenc(t), lenenc(value.length), value])
    }
    const payload = (size: number | null): Buffer =>
      event(
        EventType.TransactionPayload,
        Buffer.concat([
          field(PayloadField.CompressionType, PayloadCompression.Zstd),
          ...(size === null ? [] : [field(PayloadField.UncompressedSize, size)]),
          field(PayloadField.PayloadSize, zstd.length),
          lenenc(PayloadField.End),
          zstd,
        ]),
      )
    const d = new BinlogDecoder()
    d.decode(fde('8.0.36', 1))
    assert.equal(d.decode(payload(inner.length)).type, 'transactionPayload')
    const rejects = (size: number | null, what: RegExp): void =>
      assert.throws(
        () => d.decode(payload(size)),
        (e: unknown) => e instanceof BinlogDecodeError && what.test(e.message),
        `size ${size}`,
      )
    rejects(null, /without an uncompressed size/)
    rejects(zstd.length * 32_768 + 1, /cannot come from \d+ zstd bytes/)
    rejects(2 ** 30 - 1, /cannot come from/)
  })
})
