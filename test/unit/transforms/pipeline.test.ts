import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ChangeBatch } from '../../../pipeline/event.js'
import type { Sink } from '../../../pipeline/sink.js'
import type { Source } from '../../../pipeline/source.js'
import { TransformChain } from '../../../transforms/chain.js'
import { createChain, transformSink, transformSource } from '../../../transforms/index.js'
import { accounts, event, row, transform } from './fixtures.js'

function listSource(batches: ChangeBatch[]): Source {
  return {
    preflight: async () => {},
    async *start() {
      for (const b of batches) yield b
    },
    acknowledge: async () => {},
    stop: async () => {},
  }
}

describe('transform chain and pipeline wrappers', () => {
  it('applies transforms in order; a dropped event never reaches the next transform', () => {
    let seen = 0
    const counter = { apply: (ev: Parameters<ReturnType<typeof transform>['apply']>[0]) => (seen++, ev) }
    const chain = new TransformChain([transform({ type: 'filter', drop: 'after.qty == 13' }), counter])
    const out = chain.map([event(accounts(), 'c', row(1, 'a', 13)), event(accounts(), 'c', row(2, 'a', 1))])
    assert.deepEqual(
      out.map((e) => e.after!.id),
      [2],
    )
    assert.equal(seen, 1)
  })

  it('a batch whose events are all filtered still carries its checkpoint and transactions', async () => {
    const t = accounts()
    const kept: ChangeBatch = { events: [event(t, 'c', row(1, 'a', 1))], checkpoint: 'p1', bytes: 10 }
    const dropped: ChangeBatch = {
      events: [event(t, 'c', row(2, 'a', 13)), event(t, 'u', row(3, 'a', 13))],
      checkpoint: 'p2',
      bytes: 20,
      transactions: [{ id: 'x', event_count: 2, data_collections: [], ts_ms: 1 }],
    }
    const src = transformSource(
      listSource([kept, dropped]),
      [{ type: 'filter', drop: 'after.qty == 13' }],
      'shop',
    )
    const got: ChangeBatch[] = []
    for await (const b of src.start(null, new AbortController().signal)) got.push(b)
    assert.deepEqual(
      got.map((b) => [b.checkpoint, b.events.length, b.bytes]),
      [
        ['p1', 1, 10],
        ['p2', 0, 20],
      ],
    )
    assert.deepEqual(got[1]!.transactions, dropped.transactions)
  })

  it('the wrapped source keeps the optional status() of the source, and only when it has one', async () => {
    const status = { phase: 'streaming' as const, lagBytes: 5, retainedBytes: 9 }
    const withStatus: Source = { ...listSource([]), status: async () => status }
    const filter = [{ type: 'filter', drop: 'true' }]
    assert.deepEqual(await transformSource(withStatus, filter, 'shop').status?.(), status)
    assert.equal(transformSource(listSource([]), filter, 'shop').status, undefined)
  })

  it('no transforms: the source and sink are returned unwrapped', () => {
    const src = listSource([])
    assert.equal(transformSource(src, [], 'shop'), src)
    assert.equal(createChain([], 'shop', 'x'), null)
  })

  it('a per-sink transform that fails rejects write() (never throws synchronously)', async () => {
    const written: ChangeBatch[] = []
    const inner: Sink = {
      delivery: 'at-least-once',
      open: async () => {},
      write: async (b) => void written.push(b),
      flush: async () => {},
      close: async () => {},
    }
    const sink = transformSink(inner, [{ type: 'filter', drop: 'after.nope == 1' }], 'shop', 0)
    assert.equal(sink.delivery, 'at-least-once')
    const p = sink.write({ events: [event(accounts(), 'c', row(1, 'a', 1))], checkpoint: 'p', bytes: 1 })
    await assert.rejects(p, /TRANSFORM_UNKNOWN_COLUMN|nope is not a column/)
    assert.equal(written.length, 0)
    await sink.write({ events: [], checkpoint: 'q', bytes: 0 })
    assert.equal(written.length, 1, 'an empty batch passes through')
  })
})
