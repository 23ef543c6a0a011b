import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RateWindow } from '../../../pipeline/metrics.js'

describe('RateWindow (events per bucket over the last minutes)', () => {
  it('counts into the bucket of the time given and shifts as time passes', () => {
    const w = new RateWindow(1000, 5, 10_000)
    w.add(3, 10_100)
    w.add(2, 10_900)
    assert.deepEqual(w.series(10_999), [0, 0, 0, 0, 5])
    w.add(7, 12_000)
    assert.deepEqual(w.series(12_500), [0, 0, 5, 0, 7])
  })

  it('forgets buckets older than the window, however long it was idle', () => {
    const w = new RateWindow(1000, 3, 0)
    w.add(4, 0)
    assert.deepEqual(w.series(2_000), [4, 0, 0])
    assert.deepEqual(w.series(3_000), [0, 0, 0])
    w.add(1, 1_000_000)
    assert.deepEqual(w.series(1_000_000), [0, 0, 1])
  })
})
