import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compile, expressionProblem, rowView } from '../../../transforms/expression.js'
import { accounts, event, row } from './fixtures.js'

const t = accounts()
const view = rowView(t)
const test = (expr: string, ev = event(t, 'c', row(4, 'paid', 2 ** 40 + 1))): boolean =>
  compile(expr).test(ev, view)

describe('filter expressions', () => {
  it('text in double or single quotes, in-lists, regular expressions', () => {
    assert.equal(test('after.status == "paid"'), true)
    assert.equal(test("after.status in ('new', 'paid')"), true)
    assert.equal(test("after.status not in ('new', 'paid')"), false)
    assert.equal(test('after.status ~= "^pa"'), true)
  })

  it('64-bit integers and decimals read as numbers', () => {
    assert.equal(test('after.qty > 1099511627776'), true)
    assert.equal(test('after.price == 4.05'), true)
    const big = event(t, 'c', { ...row(1, 'x', null), qty: 2n ** 60n })
    assert.equal(test('after.qty > 1000000', big), true)
  })

  it('lists the columns it reads, and rejects unknown names and functions before running', () => {
    assert.deepEqual(compile("before.status != after.status and op == 'u'").columns, [
      { side: 'before', column: 'status' },
      { side: 'after', column: 'status' },
    ])
    assert.match(expressionProblem('after.qty > limit')!, /unknown name limit/)
    assert.match(expressionProblem('eval(after.qty)')!, /unknown function eval\(\)/)
    assert.match(expressionProblem('  ')!, /empty expression/)
    assert.match(expressionProblem('op.x == 1')!, /unknown name op\.x/)
    assert.match(expressionProblem('constructor == 1')!, /unknown name constructor/)
    assert.equal(expressionProblem('exists(after.note) and not empty(after.status)'), null)
  })
})
