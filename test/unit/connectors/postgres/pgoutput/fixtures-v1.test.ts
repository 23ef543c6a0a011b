import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import {
  COLUMN_FLAG_KEY,
  PG_EPOCH_UNIX_MS,
  PgoutputDecoder,
  UNCHANGED_TOAST,
  type BeginMessage,
  type CommitMessage,
  type PgoutputMessage,
  type RelationMessage,
} from '../../../../../connectors/postgres/pgoutput/index.js'
import { parseLsn } from '../../../../../connectors/postgres/position.js'

// Fixtures come from scripts/capture-pgoutput-fixtures.ts; the expected values below are
// that script's workload.

interface Row {
  /** LSN the slot reported for the message. */
  lsn: bigint
  xid: number
  msg: PgoutputMessage
}

function load(file: string): Row[] {
  const url = new URL(`../../../../fixtures/pgoutput/${file}`, import.meta.url)
  const fixture = JSON.parse(readFileSync(url, 'utf8')) as {
    protoVersion: 1 | 2
    messages: { lsn: string; xid: number; hex: string }[]
  }
  const decoder = new PgoutputDecoder(fixture.protoVersion)
  return fixture.messages.map((m) => ({
    lsn: parseLsn(m.lsn),
    xid: m.xid,
    msg: decoder.decode(Buffer.from(m.hex, 'hex')),
  }))
}

/** Narrows a message to one tag, failing the test otherwise. */
function as<T extends PgoutputMessage['tag']>(
  m: PgoutputMessage | undefined,
  tag: T,
): Extract<PgoutputMessage, { tag: T }> {
  assert.equal(m?.tag, tag)
  return m as Extract<PgoutputMessage, { tag: T }>
}

interface Txn {
  begin: BeginMessage
  commit: CommitMessage
  /** Messages between Begin and Commit. */
  body: PgoutputMessage[]
}

/**
 * Splits rows into transactions and checks the framing every transaction must satisfy:
 * Begin's final LSN is the commit LSN, the slot reports the commit at the end LSN, every
 * row lies inside the transaction, xids match, and commits come in LSN order.
 */
function transactions(rows: Row[]): Txn[] {
  const txns: Txn[] = []
  for (let i = 0; i < rows.length; i++) {
    const first = rows[i]!
    if (first.msg.tag === 'message' && !first.msg.transactional) continue
    const begin = as(first.msg, 'begin')
    assert.equal(begin.xid, first.xid)
    const body: PgoutputMessage[] = []
    for (i++; rows[i]?.msg.tag !== 'commit'; i++) {
      const row = rows[i]
      assert.ok(row, `transaction ${begin.xid} has no commit`)
      assert.equal(row.xid, begin.xid)
      assert.ok(row.lsn >= first.lsn && row.lsn <= begin.finalLsn, 'change lies inside its transaction')
      body.push(row.msg)
    }
    const commit = as(rows[i]!.msg, 'commit')
    assert.equal(commit.commitLsn, begin.finalLsn)
    assert.ok(commit.endLsn > commit.commitLsn)
    assert.equal(rows[i]!.lsn, commit.endLsn, 'the slot reports a commit at its end LSN')
    assert.equal(commit.commitTimeMicros, begin.commitTimeMicros)
    assert.equal(commit.flags, 0)
    const prev = txns.at(-1)
    if (prev) assert.ok(begin.finalLsn > prev.commit.endLsn, 'commits in LSN order')
    txns.push({ begin, commit, body })
  }
  return txns
}

const names = (r: RelationMessage): string[] => r.columns.map((c) => c.name)
const keyFlags = (r: RelationMessage): number[] => r.columns.map((c) => c.flags & COLUMN_FLAG_KEY)

describe('pgoutput v1 fixtures', () => {
  test('basic: inserts, update, key update and delete with default replica identity', () => {
    const txns = transactions(load('v1_basic.json'))
    assert.equal(txns.length, 4)
    const [first, update, keyUpdate, del] = txns as [Txn, Txn, Txn, Txn]

    const type = as(first.body[0], 'type')
    assert.deepEqual([type.schema, type.name, type.xid], ['public', 'mood', undefined])
    const rel = as(first.body[1], 'relation')
    assert.deepEqual([rel.schema, rel.name, rel.replicaIdentity], ['public', 'items', 'd'])
    assert.deepEqual(names(rel), ['id', 'name', 'price', 'note', 'mood'])
    assert.deepEqual(keyFlags(rel), [1, 0, 0, 0, 0])
    assert.deepEqual(
      rel.columns.map((c) => c.typeOid),
      [23, 25, 1700, 25, type.typeOid],
    )
    // numeric(10,2): typmod = (precision << 16 | scale) + VARHDRSZ
    assert.equal(rel.columns[2]!.typmod, ((10 << 16) | 2) + 4)
    assert.equal(rel.columns[0]!.typmod, -1)

    const ins1 = as(first.body[2], 'insert')
    const ins2 = as(first.body[3], 'insert')
    assert.equal(ins1.relationId, rel.relationId)
    assert.deepEqual(ins1.tuple, ['1', 'widget', '9.99', '', 'happy'])
    assert.deepEqual(ins2.tuple, ['2', 'héllo wörld ✓ 😀', null, null, null])
    assert.ok(ins1.bytes > 0 && ins1.bytes < 64)

    const u = as(update.body[0], 'update')
    assert.deepEqual([u.key, u.old, u.tuple], [null, null, ['1', 'widget', '12.50', '', 'happy']])

    const ku = as(keyUpdate.body[0], 'update')
    assert.deepEqual(ku.key, ['2', null, null, null, null], 'the old key when the primary key changes')
    assert.equal(ku.old, null)
    assert.deepEqual(ku.tuple, ['10', 'héllo wörld ✓ 😀', null, null, null])

    const d = as(del.body[0], 'delete')
    assert.deepEqual([d.key, d.old], [['10', null, null, null, null], null])
    assert.equal(d.relationId, rel.relationId)

    assert.ok(first.begin.commitTimeMs > Date.UTC(2024, 0, 1))
    assert.equal(
      first.begin.commitTimeMs,
      Math.floor(Number(first.begin.commitTimeMicros) / 1000) + PG_EPOCH_UNIX_MS,
    )
  })

  test('replica identity: FULL sends the old row, USING INDEX sends the index key', () => {
    const txns = transactions(load('v1_replica-identity.json'))
    assert.equal(txns.length, 7)
    const full = as(txns[0]!.body[0], 'relation')
    assert.deepEqual([full.name, full.replicaIdentity], ['full_rows', 'f'])
    assert.deepEqual(keyFlags(full), [1, 1], 'every column is part of a FULL identity')
    const fu = as(txns[1]!.body[0], 'update')
    assert.deepEqual([fu.key, fu.old, fu.tuple], [null, ['1', 'a'], ['1', 'b']])
    const fd = as(txns[2]!.body[0], 'delete')
    assert.deepEqual([fd.key, fd.old], [null, ['1', 'b']])

    const idx = as(txns[3]!.body[0], 'relation')
    assert.deepEqual([idx.name, idx.replicaIdentity], ['by_index', 'i'])
    assert.deepEqual(names(idx), ['code', 'label', 'id'])
    assert.deepEqual(keyFlags(idx), [1, 0, 0])
    assert.deepEqual(as(txns[3]!.body[1], 'insert').tuple, ['k1', 'x', '1'])
    const same = as(txns[4]!.body[0], 'update')
    assert.deepEqual(
      [same.key, same.old, same.tuple],
      [null, null, ['k1', 'y', '1']],
      'key unchanged: no key sent',
    )
    const moved = as(txns[5]!.body[0], 'update')
    assert.deepEqual(
      [moved.key, moved.tuple],
      [
        ['k1', null, null],
        ['k2', 'y', '1'],
      ],
    )
    const gone = as(txns[6]!.body[0], 'delete')
    assert.deepEqual([gone.key, gone.old], [['k2', null, null], null])
  })

  test('toast: an unchanged external value is UNCHANGED_TOAST, a changed one is sent', () => {
    const txns = transactions(load('v1_toast.json'))
    assert.equal(txns.length, 3)
    const rel = as(txns[0]!.body[0], 'relation')
    assert.deepEqual(names(rel), ['id', 'title', 'body'])
    const ins = as(txns[0]!.body[1], 'insert')
    assert.deepEqual(ins.tuple, ['1', 'first', '0123456789'.repeat(300)])
    assert.ok(ins.bytes > 3000)
    const kept = as(txns[1]!.body[0], 'update')
    assert.deepEqual(kept.tuple, ['1', 'second', UNCHANGED_TOAST])
    assert.ok(kept.bytes < 64, 'the TOASTed value is not sent')
    const changed = as(txns[2]!.body[0], 'update')
    assert.deepEqual(changed.tuple, ['1', 'second', 'ab'.repeat(2000)])
  })

  test('truncate: cascade and restart identity over both tables, then a plain truncate', () => {
    const txns = transactions(load('v1_truncate.json'))
    assert.equal(txns.length, 4)
    const parents = as(txns[0]!.body[0], 'relation')
    const children = as(txns[1]!.body[0], 'relation')
    assert.deepEqual([parents.name, children.name], ['parents', 'children'])
    assert.deepEqual(as(txns[1]!.body[1], 'insert').tuple, ['1', '1', 'c1'])

    const cascade = txns[2]!.body
    assert.deepEqual(
      cascade.map((m) => m.tag),
      ['relation', 'relation', 'truncate'],
    )
    const t = as(cascade[2], 'truncate')
    assert.deepEqual([t.options, t.cascade, t.restartIdentity], [3, true, true])
    assert.deepEqual(t.relationIds, [parents.relationId, children.relationId])

    const plain = as(txns[3]!.body[1], 'truncate')
    assert.deepEqual([plain.options, plain.cascade, plain.restartIdentity], [0, false, false])
    assert.deepEqual(plain.relationIds, [children.relationId])
  })

  test('messages: a transactional message inside its transaction, a non-transactional one alone', () => {
    const rows = load('v1_messages.json')
    const txns = transactions(rows)
    assert.equal(txns.length, 1)
    const [txn] = txns as [Txn]
    const m = as(txn.body[0], 'message')
    assert.deepEqual(
      [m.transactional, m.flags, m.prefix, m.content.toString()],
      [true, 1, 'sluice', 'in-txn'],
    )
    assert.ok(m.lsn > 0n && m.lsn < txn.begin.finalLsn)
    assert.deepEqual(as(txn.body.at(-1), 'insert').tuple, ['3', 'gadget', '1.00', 'n', 'ok'])

    const last = rows.at(-1)!
    const nontx = as(last.msg, 'message')
    assert.deepEqual([nontx.transactional, nontx.flags, nontx.prefix], [false, 0, 'sluice.nontx'])
    assert.deepEqual(nontx.content, Buffer.from([0x00, 0xff, 0x10]))
    assert.ok(nontx.lsn > txn.commit.endLsn)
    assert.equal(last.xid, 0, 'not part of any transaction')
  })

  test('origin: the replayed transaction names its origin, origin LSN and origin commit time', () => {
    const [txn] = transactions(load('v1_origin.json')) as [Txn]
    const o = as(txn.body[0], 'origin')
    assert.deepEqual([o.name, o.originLsn], ['upstream-a', 0xdeadbeefn])
    const ts = Date.UTC(2024, 0, 2, 3, 4, 5)
    assert.equal(txn.begin.commitTimeMs, ts)
    assert.equal(txn.begin.commitTimeMicros, BigInt(ts - PG_EPOCH_UNIX_MS) * 1000n)
    assert.equal(txn.commit.commitTimeMs, ts)
    assert.deepEqual(as(txn.body.at(-1), 'insert').tuple, ['4', 'replayed', '2.00', null, 'sad'])
  })

  test("binary: values arrive in the types' send format as owned Buffers", () => {
    const [txn] = transactions(load('v1_binary.json')) as [Txn]
    const rel = as(txn.body[0], 'relation')
    assert.deepEqual(names(rel), ['id', 'n', 'b', 't', 'u', 'ts', 'flag'])
    const [id, n, b, t, u, ts, flag] = as(txn.body[1], 'insert').tuple as Buffer[]
    assert.equal(id!.readInt32BE(), 1)
    assert.equal(n!.readBigInt64BE(), 9007199254740993n)
    assert.deepEqual(b, Buffer.from([0x00, 0x01, 0x02, 0xff]))
    assert.equal(t!.toString('utf8'), 'text ✓')
    assert.equal(u!.toString('hex'), 'a0eebc999c0b4ef8bb6d6bb9bd380a11')
    const micros = BigInt(Date.UTC(2024, 0, 2, 3, 4, 5, 123) - PG_EPOCH_UNIX_MS) * 1000n + 456n
    assert.equal(ts!.readBigInt64BE(), micros)
    assert.deepEqual(flag, Buffer.from([1]))

    const second = as(txn.body[2], 'insert').tuple
    assert.deepEqual(second, [
      Buffer.from([0, 0, 0, 2]),
      null,
      Buffer.alloc(0),
      Buffer.alloc(0),
      null,
      null,
      Buffer.from([0]),
    ])
  })

  test('streaming workload without streaming: whole committed transactions only', () => {
    const txns = transactions(load('v1_streaming.json'))
    assert.equal(txns.length, 2, 'the rolled-back transaction is not sent')
    const [big, withSavepoint] = txns as [Txn, Txn]
    const inserts = big.body.filter((m) => m.tag === 'insert')
    assert.equal(inserts.length, 300)
    assert.deepEqual(
      inserts.map((m) => as(m, 'insert').tuple[0]),
      Array.from({ length: 300 }, (_, i) => String(i + 1)),
    )
    assert.ok(big.body.every((m) => !('xid' in m) || m.xid === undefined))
    assert.deepEqual(
      big.body.slice(-5).map((m) => m.tag),
      ['update', 'delete', 'message', 'relation', 'truncate'],
    )
    assert.deepEqual(
      withSavepoint.body.filter((m) => m.tag === 'insert').map((m) => as(m, 'insert').tuple[0]),
      ['5001', '5002'],
      'the rolled-back subtransaction is not sent',
    )
  })
})
