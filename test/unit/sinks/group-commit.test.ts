import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SinkError, SluiceError } from '../../../pipeline/errors.js'
import { GroupCommit, stoppedAfter } from '../../../sinks/group-commit.js'

const options = (commit: (group: readonly number[]) => Promise<void>) => ({
  commit,
  wrap: (err: unknown) => new SinkError('X_FAILED', `failed: ${String(err)}`),
  stopped: stoppedAfter('X_STOPPED', 'x sink'),
})

test('items queued during a commit are committed together, in call order', async () => {
  const groups: number[][] = []
  let release!: () => void
  const first = new Promise<void>((r) => (release = r))
  const q = new GroupCommit<number>(
    options(async (g) => {
      groups.push([...g])
      if (groups.length === 1) await first
    }),
  )
  const done = [q.enqueue(1), q.enqueue(2), q.enqueue(3)]
  await new Promise((r) => setImmediate(r))
  done.push(q.enqueue(4), q.enqueue(5))
  release()
  await Promise.all(done)
  assert.deepEqual(groups, [
    [1, 2, 3],
    [4, 5],
  ])
})

test('a failed commit rejects its group and everything queued behind it; later calls get stopped()', async () => {
  let calls = 0
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const q = new GroupCommit<number>(
    options(async () => {
      calls++
      await gate
      throw new Error('disk on fire')
    }),
  )
  const a = q.enqueue(1)
  await new Promise((r) => setImmediate(r))
  const b = q.enqueue(2) // queued behind the failing group
  release()
  await assert.rejects(a, (e: SluiceError) => e.code === 'X_FAILED' && /disk on fire/.test(e.message))
  await assert.rejects(b, (e: SluiceError) => e.code === 'X_FAILED')
  await assert.rejects(
    q.enqueue(3),
    (e: SluiceError) => e.code === 'X_STOPPED' && /x sink stopped/.test(e.message),
  )
  assert.equal(calls, 1, 'nothing is committed after a failure')
  assert.equal(q.failure?.code, 'X_FAILED')
})

test('fail() from outside a commit fails the queue once; the first failure wins', async () => {
  const q = new GroupCommit<number>(options(async () => undefined))
  const first = q.fail(new SinkError('FIRST', 'first'))
  const second = q.fail(new SinkError('SECOND', 'second'))
  assert.equal(first.code, 'FIRST')
  assert.equal(second, first)
  await assert.rejects(q.enqueue(1), (e: SluiceError) => e.code === 'X_STOPPED')
})
