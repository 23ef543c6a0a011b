import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  END,
  PHASE_SNAPSHOT,
  PHASE_STREAM,
  comparePositions,
  fileSequence,
  formatPosition,
  parsePosition,
  positionBuilder,
  sortKey,
  type MysqlPosition,
} from '../../../../connectors/mysql/position.js'

const p = (over: Partial<MysqlPosition> = {}): MysqlPosition => ({
  file: 'binlog.000007',
  offset: 49583801,
  phase: PHASE_STREAM,
  index: 3,
  gtid: '0-1-24420',
  ...over,
})

test('position format: padded file sequence, offset, phase, index; file and GTID after the key', () => {
  assert.equal(formatPosition(p()), '0000000007.0000000049583801.1.000000000003;binlog.000007;0-1-24420')
})

test('position round trip, including MySQL GTID sets (whitespace dropped) and an empty GTID', () => {
  for (const pos of [
    p(),
    p({ phase: PHASE_SNAPSHOT, index: END, gtid: '' }),
    p({
      file: 'mysql-bin.1234567',
      offset: 2 ** 52,
      gtid: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4f22:1-3',
    }),
  ]) {
    const text = formatPosition(pos)
    assert.deepEqual(parsePosition(text), { ...pos, gtid: pos.gtid.replace(/\s+/g, '') })
  }
})

test('positions sort as strings in binlog order: file, then offset, then phase, then index', () => {
  const ordered = [
    p({ file: 'binlog.000009', offset: 999_999_999, index: END }),
    p({ file: 'binlog.000010', offset: 4, phase: PHASE_SNAPSHOT, index: 0 }),
    p({ file: 'binlog.000010', offset: 4, phase: PHASE_SNAPSHOT, index: 12 }),
    p({ file: 'binlog.000010', offset: 4, phase: PHASE_STREAM, index: 0 }),
    p({ file: 'binlog.000010', offset: 4, phase: PHASE_STREAM, index: 2 }),
    p({ file: 'binlog.000010', offset: 120, index: 0 }),
    p({ file: 'binlog.1000000', offset: 4, index: 0 }),
  ].map(formatPosition)
  const shuffled = [...ordered].reverse()
  assert.deepEqual([...shuffled].sort(), ordered)
  assert.deepEqual([...shuffled].sort(comparePositions), ordered)
})

test('the GTID does not take part in ordering', () => {
  const a = formatPosition(p({ gtid: '0-1-9' }))
  const b = formatPosition(p({ gtid: '0-1-10' }))
  assert.equal(comparePositions(a, b), 0)
  assert.equal(sortKey(a), '0000000007.0000000049583801.1.000000000003')
})

test('positionBuilder matches formatPosition for every index', () => {
  const build = positionBuilder('binlog.000012', 1855, PHASE_STREAM, '0-1-5')
  for (const index of [0, 1, 42, END]) {
    assert.equal(
      build(index),
      formatPosition(p({ file: 'binlog.000012', offset: 1855, index, gtid: '0-1-5' })),
    )
  }
})

test('invalid positions and file names are rejected', () => {
  for (const bad of [
    '',
    '0000000007.0000000049583801.1.000000000003',
    '0000000007.0000000049583801.2.000000000003;binlog.000007;',
    '0000000008.0000000049583801.1.000000000003;binlog.000007;',
    '7.49583801.1.3;binlog.000007;',
  ]) {
    assert.throws(() => parsePosition(bad), /invalid mysql position/, bad)
  }
  assert.throws(() => fileSequence('binlog'), /numeric suffix/)
  assert.throws(() => formatPosition(p({ file: 'a;b.000001' })), /contains/)
  assert.throws(() => formatPosition(p({ offset: -1 })), /offset/)
  assert.throws(() => formatPosition(p({ phase: '2' })), /phase/)
  assert.equal(fileSequence('binlog.000007'), 7)
})

test('resume state and base: optional trailing fields, round trip, base shifts the key only', () => {
  const withResume = p({ resume: '0-1-24419,1-2-7' })
  const text = formatPosition(withResume)
  assert.equal(text, '0000000007.0000000049583801.1.000000000003;binlog.000007;0-1-24420;0-1-24419,1-2-7')
  assert.deepEqual(parsePosition(text), withResume)
  const rebased = p({ file: 'binlog.000001', resume: '', base: 12 })
  const t2 = formatPosition(rebased)
  assert.equal(t2, '0000000013.0000000049583801.1.000000000003;binlog.000001;0-1-24420;;12')
  assert.deepEqual(parsePosition(t2), rebased)
  assert.ok(comparePositions(t2, text) > 0, 'a rebased file 1 sorts after file 7')
  assert.throws(
    () => parsePosition('0000000013.0000000049583801.1.000000000003;binlog.000001;x;;11'),
    /file does not match/,
  )
  const build = positionBuilder('binlog.000002', 99, PHASE_STREAM, '0-1-5', '0-1-4', 3)
  assert.equal(
    build(2),
    formatPosition(
      p({ file: 'binlog.000002', offset: 99, index: 2, gtid: '0-1-5', resume: '0-1-4', base: 3 }),
    ),
  )
})
