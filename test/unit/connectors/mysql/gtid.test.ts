import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gtidState, MariadbGtidState, MysqlGtidSet } from '../../../../connectors/mysql/gtid.js'

const UUID_A = '3e11fa47-71ca-11e1-9e33-c80aa9429562'
const UUID_B = '4f22ab01-0000-11e1-9e33-c80aa9429562'

test('mariadb state: a transaction replaces its own domain only; domains print in order', () => {
  const s = gtidState('mariadb', '1-2-7,0-1-58')
  assert.equal(s.toString(), '0-1-58,1-2-7')
  s.add('0-1-59')
  assert.equal(s.toString(), '0-1-59,1-2-7')
  s.add('1-3-8')
  assert.equal(s.toString(), '0-1-59,1-3-8')
  s.add('2-1-1')
  assert.equal(s.toString(), '0-1-59,1-3-8,2-1-1')
})

test('mariadb state: single domain fast path and unknown state', () => {
  const s = gtidState('mariadb', '0-1-5')
  s.add('0-1-6')
  assert.equal(s.toString(), '0-1-6')
  const u = gtidState('mariadb')
  assert.equal(u.known, false)
  u.add('0-1-6')
  assert.equal(u.toString(), '', 'an unknown state stays unknown')
  const empty = gtidState('mariadb', '')
  assert.equal(empty.known, true, 'an empty state is known (nothing logged yet)')
  empty.add('0-1-1')
  assert.equal(empty.toString(), '0-1-1')
})

test('mariadb GTID_LIST: highest sequence per domain; merged, never moves a domain back', () => {
  const s = new MariadbGtidState()
  s.reset(null)
  s.fromMariadbList([
    { domainId: 0, serverId: 1, seqNo: 10n },
    { domainId: 0, serverId: 2, seqNo: 12n },
    { domainId: 1, serverId: 1, seqNo: 3n },
  ])
  assert.equal(s.toString(), '0-2-12,1-1-3')
  s.add('0-1-13')
  s.fromMariadbList([{ domainId: 0, serverId: 2, seqNo: 12n }])
  assert.equal(s.toString(), '0-1-13,1-1-3', 'an older list does not undo a later transaction')
  assert.throws(() => s.reset('0-1'), /domain-server-seq/)
})

test('mysql GTID set: adds merge into intervals; PREVIOUS_GTIDS intervals are end-exclusive', () => {
  const s = gtidState('mysql', `${UUID_B}:1-3,${UUID_A.toUpperCase()}:1-5:7`)
  assert.equal(s.toString(), `${UUID_A}:1-5:7,${UUID_B}:1-3`)
  s.add(`${UUID_A}:6`)
  assert.equal(s.toString(), `${UUID_A}:1-7,${UUID_B}:1-3`)
  s.add(`${UUID_A}:9`)
  s.add(`${UUID_B}:4`)
  assert.equal(s.toString(), `${UUID_A}:1-7:9,${UUID_B}:1-4`)
  s.add(`${UUID_A}:3`)
  assert.equal(s.toString(), `${UUID_A}:1-7:9,${UUID_B}:1-4`, 'adding a member changes nothing')
  s.add('')
  assert.equal(s.toString(), `${UUID_A}:1-7:9,${UUID_B}:1-4`, 'anonymous transactions are ignored')

  const p = new MysqlGtidSet()
  p.reset(null)
  p.fromMysqlSets([{ sid: UUID_A, intervals: [[1n, 6n]] }])
  assert.equal(p.toString(), `${UUID_A}:1-5`)
  p.add(`${UUID_A}:6`)
  p.fromMysqlSets([{ sid: UUID_B, intervals: [[2n, 3n]] }])
  assert.equal(p.toString(), `${UUID_A}:1-6,${UUID_B}:2`, 'a later PREVIOUS_GTIDS is united')
  assert.throws(() => p.reset(`${UUID_A}:0`), /bad interval/)
  assert.throws(() => p.reset('nope:1'), /not uuid/)
})
