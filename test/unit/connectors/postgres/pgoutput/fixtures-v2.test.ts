import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import {
  decodePgoutput,
  PgoutputDecoder,
  type PgoutputMessage,
} from '../../../../../connectors/postgres/pgoutput/index.js'
import { parseLsn } from '../../../../../connectors/postgres/position.js'

// v2_streaming.json comes from scripts/capture-pgoutput-fixtures.ts with proto_version 2,
// streaming on and logical_decoding_work_mem=64kB. Its workload: transaction A inserts
// bulk rows 1..300, updates row 1, deletes row 2, emits a message and truncates children,
// then commits; B inserts 1001..1300 and rolls back; C inserts 5001, rolls back a
// savepoint holding 2001..2300, inserts 5002 and commits.

interface Row {
  lsn: bigint
  xid: number
  msg: PgoutputMessage
  /** The message arrived between StreamStart and StreamStop. */
  inStream: boolean
}

function load(file: string): Row[] {
  const url = new URL(`../../../../fixtures/pgoutput/${file}`, import.meta.url)
  const fixture = JSON.parse(readFileSync(url, 'utf8')) as {
    messages: { lsn: string; xid: number; hex: string }[]
  }
  const decoder = new PgoutputDecoder(2)
  return fixture.messages.map((m) => {
    const inStream = decoder.streaming
    return { lsn: parseLsn(m.lsn), xid: m.xid, msg: decoder.decode(Buffer.from(m.hex, 'hex')), inStream }
  })
}

const rows = load('v2_streaming.json')

/**
 * Replays the stream the way an apply worker would: changes are buffered per top-level
 * transaction and per (sub)xid, an abort discards the subxid's changes (or the whole
 * transaction), a commit releases the rest. Returns committed insert ids per top-level xid.
 */
function apply(all: Row[]): { committed: Map<number, string[]>; aborted: number[]; commits: bigint[] } {
  const pending = new Map<number, { subxid: number; id: string }[]>()
  const committed = new Map<number, string[]>()
  const aborted: number[] = []
  const commits: bigint[] = []
  let top: number | undefined
  for (const { msg } of all) {
    switch (msg.tag) {
      case 'streamStart':
        top = msg.xid
        if (msg.firstSegment) {
          assert.ok(!pending.has(msg.xid), 'first segment opens a new transaction')
          pending.set(msg.xid, [])
        } else assert.ok(pending.has(msg.xid), 'later segments continue a known transaction')
        break
      case 'streamStop':
        top = undefined
        break
      case 'insert':
        assert.ok(top !== undefined && msg.xid !== undefined)
        pending.get(top)!.push({ subxid: msg.xid, id: msg.tuple[0] as string })
        break
      case 'streamAbort':
        assert.equal(top, undefined, 'aborts arrive outside stream blocks')
        if (msg.subxid === msg.xid) {
          pending.delete(msg.xid)
          aborted.push(msg.xid)
        } else {
          pending.set(
            msg.xid,
            pending.get(msg.xid)!.filter((c) => c.subxid !== msg.subxid),
          )
        }
        break
      case 'streamCommit':
        assert.equal(top, undefined, 'commits arrive outside stream blocks')
        committed.set(
          msg.xid,
          pending.get(msg.xid)!.map((c) => c.id),
        )
        pending.delete(msg.xid)
        commits.push(msg.endLsn)
        assert.ok(msg.endLsn > msg.commitLsn)
        assert.ok(msg.commitTimeMs > Date.UTC(2024, 0, 1))
        break
      default:
        break
    }
  }
  assert.equal(pending.size, 0, 'every streamed transaction ends in a commit or abort')
  return { committed, aborted, commits }
}

describe('pgoutput v2 streaming fixture', () => {
  test('stream blocks are balanced and data messages carry an xid only inside them', () => {
    let open = false
    for (const { msg, inStream } of rows) {
      assert.equal(inStream, open)
      if (msg.tag === 'streamStart') {
        assert.equal(open, false, 'blocks do not nest')
        open = true
      } else if (msg.tag === 'streamStop') {
        assert.equal(open, true)
        open = false
      } else if (
        'xid' in msg &&
        ['relation', 'type', 'insert', 'update', 'delete', 'truncate', 'message'].includes(msg.tag)
      ) {
        assert.equal(msg.xid !== undefined, inStream, `${msg.tag} xid presence`)
      }
    }
    assert.equal(open, false)
    assert.ok(
      !rows.some((r) => r.msg.tag === 'begin' || r.msg.tag === 'commit'),
      'every transaction was streamed',
    )
  })

  test('changes inside a block belong to its transaction or one of its subtransactions', () => {
    let top = 0
    let subxactChanges = 0
    for (const { msg, xid } of rows) {
      if (msg.tag === 'streamStart') top = msg.xid
      if ('xid' in msg && msg.xid !== undefined && msg.tag !== 'streamStart') {
        if (msg.tag === 'streamCommit' || msg.tag === 'streamAbort') continue
        assert.ok(msg.xid >= top, 'a subtransaction xid is assigned after its parent')
        assert.equal(xid, top, 'the slot reports the top-level transaction')
        if (msg.xid !== top) subxactChanges++
      }
    }
    assert.ok(subxactChanges > 0, 'changes made in a subtransaction carry its own xid')
  })

  test('each transaction re-sends type and relation at its first change, tagged with the xid', () => {
    const firsts = rows.filter((r) => r.msg.tag === 'streamStart' && r.msg.firstSegment)
    assert.equal(firsts.length, 3)
    for (const start of firsts) {
      const i = rows.indexOf(start)
      const [type, rel] = [rows[i + 1]!.msg, rows[i + 2]!.msg]
      assert.ok(type.tag === 'type' && type.name === 'mood' && type.xid === start.xid)
      assert.ok(rel.tag === 'relation' && rel.name === 'bulk' && rel.xid === start.xid)
      assert.deepEqual(
        rel.columns.map((c) => [c.name, c.typeOid === type.typeOid]),
        [
          ['id', false],
          ['payload', false],
          ['mood', true],
        ],
      )
    }
  })

  test('the committed transaction carries update, delete, message and truncate in its blocks', () => {
    const a = rows.find((r) => r.msg.tag === 'streamStart')!.xid
    const own = rows.filter((r) => 'xid' in r.msg && r.msg.xid === a).map((r) => r.msg)
    const update = own.find((m) => m.tag === 'update')
    assert.ok(update?.tag === 'update')
    assert.deepEqual([update.key, update.tuple], [null, ['1', 'y', 'happy']])
    const del = own.find((m) => m.tag === 'delete')
    assert.ok(del?.tag === 'delete')
    assert.deepEqual(del.key, ['2', null, null])
    const message = own.find((m) => m.tag === 'message')
    assert.ok(
      message?.tag === 'message' && message.transactional && message.content.toString() === 'streamed',
    )
    const children = own.find((m) => m.tag === 'relation' && m.name === 'children')
    const truncate = own.find((m) => m.tag === 'truncate')
    assert.ok(truncate?.tag === 'truncate' && children?.tag === 'relation')
    assert.deepEqual([truncate.relationIds, truncate.cascade], [[children.relationId], false])
  })

  test('aborts discard the rolled-back transaction and subtransaction; commits keep the rest', () => {
    const { committed, aborted, commits } = apply(rows)
    const [a, c] = [...committed.keys()]
    assert.deepEqual(
      committed.get(a!),
      Array.from({ length: 300 }, (_, i) => String(i + 1)),
    )
    assert.deepEqual(committed.get(c!), ['5001', '5002'])
    assert.equal(aborted.length, 1)
    assert.ok(a! < aborted[0]! && aborted[0]! < c!)
    const subAbort = rows.find((r) => r.msg.tag === 'streamAbort' && r.msg.subxid !== r.msg.xid)
    assert.ok(subAbort?.msg.tag === 'streamAbort' && subAbort.msg.xid === c)
    assert.ok(commits[0]! < commits[1]!, 'commits in LSN order')
  })

  test('decodePgoutput with an explicit streaming flag agrees with PgoutputDecoder', () => {
    const fixture = JSON.parse(
      readFileSync(new URL('../../../../fixtures/pgoutput/v2_streaming.json', import.meta.url), 'utf8'),
    ) as { messages: { hex: string }[] }
    fixture.messages.forEach((m, i) => {
      const decoded = decodePgoutput(Buffer.from(m.hex, 'hex'), { streaming: rows[i]!.inStream })
      assert.deepEqual(decoded, rows[i]!.msg)
    })
  })
})
