import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  decodePgoutput,
  MessageCode,
  PG_EPOCH_UNIX_MS,
  PgoutputDecodeError,
  PgoutputDecoder,
  pgMicrosToUnixMs,
  UNCHANGED_TOAST,
  type InsertMessage,
  type PgoutputMessage,
  type TupleValue,
} from '../../../../../connectors/postgres/pgoutput/index.js'
import { formatLsn } from '../../../../../connectors/postgres/position.js'

/** Writes big-endian fields the way Postgres' pqformat does. */
class Writer {
  private chunks: Buffer[] = []
  byte(v: number | string): this {
    this.chunks.push(Buffer.from([typeof v === 'string' ? v.charCodeAt(0) : v]))
    return this
  }
  int16(v: number): this {
    const b = Buffer.alloc(2)
    b.writeUInt16BE(v)
    this.chunks.push(b)
    return this
  }
  int32(v: number): this {
    const b = Buffer.alloc(4)
    if (v < 0) b.writeInt32BE(v)
    else b.writeUInt32BE(v)
    this.chunks.push(b)
    return this
  }
  int64(v: bigint): this {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(BigInt.asIntN(64, v))
    this.chunks.push(b)
    return this
  }
  cstring(s: string): this {
    this.chunks.push(Buffer.from(s, 'utf8'), Buffer.from([0]))
    return this
  }
  raw(b: Buffer): this {
    this.chunks.push(b)
    return this
  }
  tuple(values: TupleValue[]): this {
    this.int16(values.length)
    for (const v of values) {
      if (v === null) this.byte('n')
      else if (v === UNCHANGED_TOAST) this.byte('u')
      else if (typeof v === 'string') {
        const b = Buffer.from(v, 'utf8')
        this.byte('t').int32(b.length).raw(b)
      } else this.byte('b').int32(v.length).raw(v)
    }
    return this
  }
  done(): Buffer {
    return Buffer.concat(this.chunks)
  }
}

const w = (tag: string): Writer => new Writer().byte(tag)
/** Starts a data message, with the xid a stream block adds after the tag. */
const data = (tag: string, xid?: number): Writer => (xid === undefined ? w(tag) : w(tag).int32(xid))

/** Message builders, named after the protocol documentation. */
const buffers = {
  begin: (finalLsn: bigint, micros: bigint, xid: number) =>
    w('B').int64(finalLsn).int64(micros).int32(xid).done(),
  commit: (commitLsn: bigint, endLsn: bigint, micros: bigint) =>
    w('C').byte(0).int64(commitLsn).int64(endLsn).int64(micros).done(),
  origin: (lsn: bigint, name: string) => w('O').int64(lsn).cstring(name).done(),
  relation: (
    id: number,
    schema: string,
    name: string,
    identity: string,
    cols: [flags: number, name: string, oid: number, typmod: number][],
    xid?: number,
  ) => {
    const b = data('R', xid).int32(id).cstring(schema).cstring(name).byte(identity).int16(cols.length)
    for (const [flags, n, oid, typmod] of cols) b.byte(flags).cstring(n).int32(oid).int32(typmod)
    return b.done()
  },
  type: (oid: number, schema: string, name: string, xid?: number) =>
    data('Y', xid).int32(oid).cstring(schema).cstring(name).done(),
  insert: (rel: number, values: TupleValue[], xid?: number) =>
    data('I', xid).int32(rel).byte('N').tuple(values).done(),
  update: (rel: number, values: TupleValue[], before?: ['K' | 'O', TupleValue[]], xid?: number) => {
    const b = data('U', xid).int32(rel)
    if (before) b.byte(before[0]).tuple(before[1])
    return b.byte('N').tuple(values).done()
  },
  delete: (rel: number, kind: 'K' | 'O', values: TupleValue[], xid?: number) =>
    data('D', xid).int32(rel).byte(kind).tuple(values).done(),
  truncate: (options: number, rels: number[], xid?: number) => {
    const b = data('T', xid).int32(rels.length).byte(options)
    for (const r of rels) b.int32(r)
    return b.done()
  },
  message: (flags: number, lsn: bigint, prefix: string, content: Buffer, xid?: number) =>
    data('M', xid).byte(flags).int64(lsn).cstring(prefix).int32(content.length).raw(content).done(),
  streamStart: (xid: number, first: boolean) =>
    w('S')
      .int32(xid)
      .byte(first ? 1 : 0)
      .done(),
  streamStop: () => w('E').done(),
  streamCommit: (xid: number, commitLsn: bigint, endLsn: bigint, micros: bigint) =>
    w('c').int32(xid).byte(0).int64(commitLsn).int64(endLsn).int64(micros).done(),
  streamAbort: (xid: number, subxid: number) => w('A').int32(xid).int32(subxid).done(),
}

const asInsert = (m: PgoutputMessage): InsertMessage => {
  assert.equal(m.tag, 'insert')
  return m as InsertMessage
}

/** 2024-01-02T03:04:05.123456Z in Postgres microseconds. */
const MICROS = BigInt(Date.UTC(2024, 0, 2, 3, 4, 5, 123) - PG_EPOCH_UNIX_MS) * 1000n + 456n

describe('pgoutput transaction messages', () => {
  test('begin decodes 64-bit LSN halves, unsigned xid and both commit time forms', () => {
    const m = decodePgoutput(buffers.begin(0x16b374d848n, MICROS, 0xfffffff0))
    assert.deepEqual(m, {
      tag: 'begin',
      finalLsn: 0x16b374d848n,
      commitTimeMicros: MICROS,
      commitTimeMs: Date.UTC(2024, 0, 2, 3, 4, 5, 123),
      xid: 0xfffffff0,
    })
    assert.equal(formatLsn((m as { finalLsn: bigint }).finalLsn), '16/B374D848')
  })

  test('commit carries flags, commit LSN, end LSN and commit time', () => {
    assert.deepEqual(decodePgoutput(buffers.commit(0xffffffff00000001n, 0xffffffff00000030n, 0n)), {
      tag: 'commit',
      flags: 0,
      commitLsn: 0xffffffff00000001n,
      endLsn: 0xffffffff00000030n,
      commitTimeMicros: 0n,
      commitTimeMs: PG_EPOCH_UNIX_MS,
    })
  })

  test('commit times before 2000 are negative micros and round down', () => {
    assert.equal(pgMicrosToUnixMs(-1n), PG_EPOCH_UNIX_MS - 1)
    assert.equal(pgMicrosToUnixMs(-1_000_000n), PG_EPOCH_UNIX_MS - 1000)
    const m = decodePgoutput(buffers.begin(1n, -1_500n, 1))
    assert.equal((m as { commitTimeMs: number }).commitTimeMs, PG_EPOCH_UNIX_MS - 2)
  })

  test('origin carries the origin LSN and name', () => {
    assert.deepEqual(decodePgoutput(buffers.origin(0xdeadbeefn, 'node-ä')), {
      tag: 'origin',
      originLsn: 0xdeadbeefn,
      name: 'node-ä',
    })
  })
})

describe('pgoutput relation and type messages', () => {
  test('relation lists columns with key flag, type oid and typmod', () => {
    const buf = buffers.relation(16384, 'public', 'items', 'd', [
      [1, 'id', 23, -1],
      [0, 'price', 1700, 655366],
      [0, 'ünïcode', 25, -1],
    ])
    assert.deepEqual(decodePgoutput(buf), {
      tag: 'relation',
      xid: undefined,
      relationId: 16384,
      schema: 'public',
      name: 'items',
      replicaIdentity: 'd',
      columns: [
        { flags: 1, name: 'id', typeOid: 23, typmod: -1 },
        { flags: 0, name: 'price', typeOid: 1700, typmod: 655366 },
        { flags: 0, name: 'ünïcode', typeOid: 25, typmod: -1 },
      ],
    })
  })

  test('an empty namespace means pg_catalog, as the server abbreviates it', () => {
    const m = decodePgoutput(buffers.type(3_000_000_000, '', 'mood'))
    assert.deepEqual(m, {
      tag: 'type',
      xid: undefined,
      typeOid: 3_000_000_000,
      schema: 'pg_catalog',
      name: 'mood',
    })
  })

  test('every replica identity letter is accepted, others are rejected', () => {
    for (const id of ['d', 'n', 'f', 'i']) {
      const m = decodePgoutput(buffers.relation(1, 's', 't', id, []))
      assert.equal((m as { replicaIdentity: string }).replicaIdentity, id)
    }
    assert.throws(
      () => decodePgoutput(buffers.relation(1, 's', 't', 'x', [])),
      /replica identity 0x78 \('x'\)/,
    )
  })
})

describe('pgoutput tuple data', () => {
  test('text, empty string, null, unchanged TOAST and binary values', () => {
    const bin = Buffer.from([0, 1, 2, 0xff])
    const values: TupleValue[] = ['42', '', null, UNCHANGED_TOAST, bin, Buffer.alloc(0)]
    const buf = buffers.insert(7, values)
    const m = asInsert(decodePgoutput(buf))
    assert.deepEqual(m.tuple, values)
    assert.equal(m.tuple[3], UNCHANGED_TOAST)
    assert.equal(m.relationId, 7)
    assert.equal(m.xid, undefined)
    assert.equal(m.bytes, buf.length - 5, 'bytes counts the tuple data after the relation id')
  })

  test('multibyte UTF-8 is decoded by byte length, not character count', () => {
    const s = 'héllo wörld ✓ 😀 日本語'
    const m = asInsert(decodePgoutput(buffers.insert(1, [s, 'z'])))
    assert.deepEqual(m.tuple, [s, 'z'])
  })

  test('binary values are copies that survive reuse of the input buffer', () => {
    const buf = buffers.insert(1, [Buffer.from('abcd'), 'text'])
    const m = asInsert(decodePgoutput(buf))
    buf.fill(0)
    assert.deepEqual(m.tuple, [Buffer.from('abcd'), 'text'])
  })

  test('a zero-column tuple decodes to an empty array', () => {
    assert.deepEqual(asInsert(decodePgoutput(buffers.insert(1, []))).tuple, [])
  })

  test('an unknown column format byte is an error naming it', () => {
    const buf = buffers.insert(1, ['a'])
    buf[8] = 0x78 // the 'x' replacing 't': tag(1) relid(4) 'N'(1) count(2)
    assert.throws(
      () => decodePgoutput(buf),
      /insert message has unknown column format 0x78 \('x'\) at offset 8/,
    )
  })
})

describe('pgoutput change messages', () => {
  test('update without old data has neither key nor old row', () => {
    const m = decodePgoutput(buffers.update(5, ['1', 'b']))
    assert.deepEqual(m, {
      tag: 'update',
      xid: undefined,
      relationId: 5,
      key: null,
      old: null,
      tuple: ['1', 'b'],
      bytes: 15,
    })
  })

  test("update with 'K' carries the old key, with 'O' the old row", () => {
    const k = decodePgoutput(buffers.update(5, ['2', 'b'], ['K', ['1', null]]))
    assert.deepEqual([k.tag === 'update' && k.key, k.tag === 'update' && k.old], [['1', null], null])
    const o = decodePgoutput(buffers.update(5, ['1', 'b'], ['O', ['1', 'a']]))
    assert.deepEqual([o.tag === 'update' && o.key, o.tag === 'update' && o.old], [null, ['1', 'a']])
  })

  test("update without 'N' after the old row is an error", () => {
    const buf = w('U').int32(5).byte('K').tuple(['1']).byte('K').tuple(['1']).done()
    assert.throws(
      () => decodePgoutput(buf),
      /update message expected new tuple 'N' but found 0x4b \('K'\) at offset 14/,
    )
  })

  test("delete carries the key ('K') or the old row ('O')", () => {
    assert.deepEqual(decodePgoutput(buffers.delete(9, 'K', ['1', null])), {
      tag: 'delete',
      xid: undefined,
      relationId: 9,
      key: ['1', null],
      old: null,
      bytes: 10,
    })
    const o = decodePgoutput(buffers.delete(9, 'O', ['1', 'x']))
    assert.deepEqual(o.tag === 'delete' && [o.key, o.old], [null, ['1', 'x']])
    assert.throws(
      () => decodePgoutput(w('D').int32(9).byte('N').tuple([]).done()),
      /delete message expected key/,
    )
  })

  test('truncate decodes cascade and restart identity bits and relation ids', () => {
    const cases: [number, boolean, boolean][] = [
      [0, false, false],
      [1, true, false],
      [2, false, true],
      [3, true, true],
    ]
    for (const [options, cascade, restartIdentity] of cases) {
      assert.deepEqual(decodePgoutput(buffers.truncate(options, [16384, 4_000_000_000])), {
        tag: 'truncate',
        xid: undefined,
        options,
        cascade,
        restartIdentity,
        relationIds: [16384, 4_000_000_000],
      })
    }
  })

  test('logical decoding message carries transactional flag, LSN, prefix and content', () => {
    const content = Buffer.from([0, 0xff, 0x10])
    assert.deepEqual(decodePgoutput(buffers.message(1, 0x1234n, 'sluice', content)), {
      tag: 'message',
      xid: undefined,
      flags: 1,
      transactional: true,
      lsn: 0x1234n,
      prefix: 'sluice',
      content,
    })
    const m = decodePgoutput(buffers.message(0, 1n, '', Buffer.alloc(0)))
    assert.deepEqual(m.tag === 'message' && [m.transactional, m.prefix, m.content.length], [false, '', 0])
  })
})

describe('pgoutput protocol 2 streaming', () => {
  test('stream start, stop, commit and abort', () => {
    assert.deepEqual(decodePgoutput(buffers.streamStart(700, true)), {
      tag: 'streamStart',
      xid: 700,
      firstSegment: true,
    })
    assert.deepEqual(decodePgoutput(buffers.streamStart(700, false)), {
      tag: 'streamStart',
      xid: 700,
      firstSegment: false,
    })
    assert.deepEqual(decodePgoutput(buffers.streamStop()), { tag: 'streamStop' })
    assert.deepEqual(decodePgoutput(buffers.streamCommit(700, 0x100n, 0x130n, MICROS)), {
      tag: 'streamCommit',
      xid: 700,
      flags: 0,
      commitLsn: 0x100n,
      endLsn: 0x130n,
      commitTimeMicros: MICROS,
      commitTimeMs: Date.UTC(2024, 0, 2, 3, 4, 5, 123),
    })
    assert.deepEqual(decodePgoutput(buffers.streamAbort(700, 701)), {
      tag: 'streamAbort',
      xid: 700,
      subxid: 701,
    })
  })

  test('inside a stream block, data messages carry the xid before the relation id', () => {
    const streaming = { streaming: true }
    const xid = 0x80000001
    const cases: [Buffer, string][] = [
      [buffers.relation(3, 'public', 't', 'f', [[0, 'a', 25, -1]], xid), 'relation'],
      [buffers.type(99999, 'public', 'mood', xid), 'type'],
      [buffers.insert(3, ['a'], xid), 'insert'],
      [buffers.update(3, ['b'], ['O', ['a']], xid), 'update'],
      [buffers.delete(3, 'O', ['b'], xid), 'delete'],
      [buffers.truncate(1, [3], xid), 'truncate'],
      [buffers.message(1, 5n, 'p', Buffer.from('c'), xid), 'message'],
    ]
    for (const [buf, tag] of cases) {
      const m = decodePgoutput(buf, streaming)
      assert.equal(m.tag, tag)
      assert.equal((m as { xid?: number }).xid, xid, tag)
      if ('relationId' in m) assert.equal(m.relationId, 3, tag)
    }
    assert.deepEqual(asInsert(decodePgoutput(buffers.insert(3, ['a'], xid), streaming)).tuple, ['a'])
  })

  test('PgoutputDecoder switches xid parsing on at stream start and off at stream stop', () => {
    const d = new PgoutputDecoder(2)
    assert.equal(asInsert(d.decode(buffers.insert(3, ['a']))).xid, undefined)
    d.decode(buffers.streamStart(42, true))
    assert.equal(d.streaming, true)
    assert.equal(asInsert(d.decode(buffers.insert(3, ['a'], 42))).xid, 42)
    d.decode(buffers.streamStop())
    assert.equal(d.streaming, false)
    assert.equal(d.decode(buffers.streamCommit(42, 1n, 2n, 0n)).tag, 'streamCommit')
    assert.equal(asInsert(d.decode(buffers.insert(3, ['a']))).xid, undefined)
  })

  test('protocol 1 rejects streaming tags and the streaming option', () => {
    assert.throws(() => decodePgoutput(buffers.streamStop(), { protoVersion: 1 }), /tag 0x45 \('E'\)/)
    assert.throws(() => new PgoutputDecoder(1).decode(buffers.streamStart(1, true)), /tag 0x53 \('S'\)/)
    assert.throws(
      () => decodePgoutput(buffers.streamStop(), { protoVersion: 1, streaming: true }),
      /no streaming/,
    )
  })
})

describe('pgoutput malformed input', () => {
  test('unknown tags are errors naming the byte in hex and as a character', () => {
    assert.throws(
      () => decodePgoutput(Buffer.from('z')),
      (e: Error) => !(e instanceof RangeError) && /tag 0x7a \('z'\)/.test(e.message),
    )
    assert.throws(() => decodePgoutput(Buffer.from([0x01, 0, 0])), /tag 0x01 \('\?'\)/)
    // Two-phase messages belong to protocol 3, which this decoder does not speak.
    assert.throws(() => decodePgoutput(Buffer.from('P')), /tag 0x50 \('P'\)/)
  })

  test('every truncation of every message is a PgoutputDecodeError (PG_DECODE_FAILED) naming the message and offset', () => {
    const all: [string, Buffer, boolean][] = [
      ['begin', buffers.begin(1n, MICROS, 2), false],
      ['commit', buffers.commit(1n, 2n, MICROS), false],
      ['origin', buffers.origin(1n, 'o'), false],
      ['relation', buffers.relation(1, 's', 't', 'd', [[1, 'id', 23, -1]]), false],
      ['type', buffers.type(1, 's', 'e'), false],
      ['insert', buffers.insert(1, ['ab', null, Buffer.from('x'), UNCHANGED_TOAST]), false],
      ['update', buffers.update(1, ['b'], ['K', ['a']]), false],
      ['delete', buffers.delete(1, 'O', ['a']), false],
      ['truncate', buffers.truncate(3, [1, 2]), false],
      ['logical decoding message', buffers.message(1, 1n, 'p', Buffer.from('abc')), false],
      ['insert', buffers.insert(1, ['a'], 9), true],
      ['stream start', buffers.streamStart(1, true), false],
      ['stream commit', buffers.streamCommit(1, 1n, 2n, 3n), false],
      ['stream abort', buffers.streamAbort(1, 2), false],
    ]
    for (const [name, buf, streaming] of all) {
      assert.doesNotThrow(() => decodePgoutput(buf, { streaming }), name)
      for (let len = 1; len < buf.length; len++) {
        assert.throws(
          () => decodePgoutput(buf.subarray(0, len), { streaming }),
          (e: Error) =>
            e instanceof PgoutputDecodeError &&
            e.code === 'PG_DECODE_FAILED' &&
            e.message.includes(`pgoutput ${name} message`) &&
            /offset \d+/.test(e.message),
          `${name} cut to ${len} of ${buf.length} bytes`,
        )
      }
    }
    assert.throws(
      () => decodePgoutput(Buffer.alloc(0)),
      /PgoutputDecodeError: pgoutput message truncated: no tag byte at offset 0/,
    )
  })

  test('the reported offset is where the missing field starts', () => {
    const buf = buffers.insert(1, ['hello'])
    assert.throws(
      () => decodePgoutput(buf.subarray(0, buf.length - 2)),
      /pgoutput insert message truncated: text value needs 5 byte\(s\) at offset 13, 3 left/,
    )
    assert.throws(
      () => decodePgoutput(buffers.type(1, 's', 'e').subarray(0, 6)),
      /type message truncated: schema string at offset 5 has no terminating NUL/,
    )
  })

  test('trailing bytes are an error, not silently ignored', () => {
    const buf = Buffer.concat([buffers.insert(1, ['a']), Buffer.from([0])])
    assert.throws(
      () => decodePgoutput(buf),
      /PgoutputDecodeError: pgoutput insert message has 1 unread byte\(s\) at offset 14/,
    )
    assert.throws(
      () => decodePgoutput(Buffer.concat([buffers.streamStop(), Buffer.from([1])])),
      /stream stop message has 1 unread/,
    )
  })

  test('negative lengths and oversized counts are rejected before allocating', () => {
    const neg = w('I').int32(1).byte('N').int16(1).byte('t').int32(-1).done()
    assert.throws(
      () => decodePgoutput(neg),
      /PgoutputDecodeError: pgoutput insert message has a negative text value length -1/,
    )
    const huge = w('T').int32(0x7fffffff).byte(0).int32(1).done()
    assert.throws(
      () => decodePgoutput(huge),
      /truncate message truncated: relation ids needs 8589934588 byte\(s\)/,
    )
  })

  test('a message decoded after an error is unaffected by it', () => {
    assert.throws(() => decodePgoutput(buffers.insert(1, ['a']).subarray(0, 9)))
    assert.deepEqual(asInsert(decodePgoutput(buffers.insert(2, ['ok']))).tuple, ['ok'])
    assert.equal(MessageCode.Insert, 'I'.charCodeAt(0))
  })
})
