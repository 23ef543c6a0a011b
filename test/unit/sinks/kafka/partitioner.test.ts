import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import { murmur2, partitionForKey, toPositive } from '../../../../sinks/kafka/partitioner.js'

// kafkajs's Java-compatible murmur2 (its v2 default partitioner), as an independent oracle.
const require = createRequire(import.meta.url)
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  key: Buffer,
) => number

describe('murmur2 (Kafka Utils.murmur2)', () => {
  it('matches the Java client on the vectors of Kafka UtilsTest.testMurmur2', () => {
    const cases: [Buffer, number][] = [
      [Buffer.from('21'), -973932308],
      [Buffer.from('foobar'), -790332482],
      [Buffer.from('a-little-bit-long-string'), -985981536],
      [Buffer.from('a-little-bit-longer-string'), -1486304829],
      [Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'), -58897971],
      [Buffer.from([0x61, 0x62, 0x63]), 479470107],
      [Buffer.alloc(0), 275646681],
    ]
    for (const [data, expected] of cases) assert.equal(murmur2(data), expected, data.toString())
  })

  it('agrees with kafkajs Java-compatible murmur2 on random keys of every tail length', () => {
    let seed = 12345
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) & 0xff
    for (let n = 0; n < 300; n++) {
      const b = Buffer.from(Array.from({ length: n % 40 }, rnd))
      assert.equal(murmur2(b), kafkajsMurmur2(b) | 0, `key ${b.toString('hex')}`)
    }
  })

  it('toPositive clears the sign bit as Java does (not Math.abs)', () => {
    assert.equal(toPositive(-2147483648), 0)
    assert.equal(toPositive(-1), 0x7fffffff)
    assert.equal(toPositive(5), 5)
  })

  it('partitions as toPositive(murmur2(key)) % n', () => {
    // -973932308 & 0x7fffffff = 1173551340
    assert.equal(partitionForKey(Buffer.from('21'), 4), 1173551340 % 4)
    assert.equal(partitionForKey(Buffer.from('21'), 1), 0)
    for (let n = 1; n < 20; n++) {
      const p = partitionForKey(Buffer.from('foobar'), n)
      assert.ok(p >= 0 && p < n)
    }
  })
})
