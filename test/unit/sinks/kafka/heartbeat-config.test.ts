import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { kafkaConfig } from '../../../../sinks/kafka/config.js'
import {
  HEARTBEAT_VALUE_SCHEMA,
  heartbeatKeyType,
  heartbeatValueType,
} from '../../../../sinks/kafka/heartbeat.js'

const base = { type: 'kafka', brokers: ['127.0.0.1:9092'] }

describe('kafka heartbeat config', () => {
  it('is off unless configured; an empty block means every 10 s to the default topic', () => {
    assert.equal(kafkaConfig.parse(base).heartbeat, undefined)
    assert.deepEqual(kafkaConfig.parse({ ...base, heartbeat: {} }).heartbeat, { interval_ms: 10_000 })
    assert.deepEqual(kafkaConfig.parse({ ...base, heartbeat: { interval_ms: 500, topic: 'hb' } }).heartbeat, {
      interval_ms: 500,
      topic: 'hb',
    })
  })

  it('rejects an interval under 100 ms and unknown keys', () => {
    assert.equal(kafkaConfig.safeParse({ ...base, heartbeat: { interval_ms: 10 } }).success, false)
    assert.equal(kafkaConfig.safeParse({ ...base, heartbeat: { every: 1000 } }).success, false)
  })

  it('round-trips its records; the position is null before anything was delivered', () => {
    const v = { ts_ms: 1_700_000_000_000, position: '0/16B6F40' }
    assert.deepEqual({ ...heartbeatValueType.fromBuffer(heartbeatValueType.toBuffer(v)) }, v)
    const none = { ts_ms: 1, position: null }
    assert.deepEqual({ ...heartbeatValueType.fromBuffer(heartbeatValueType.toBuffer(none)) }, none)
    assert.deepEqual(
      { ...heartbeatKeyType.fromBuffer(heartbeatKeyType.toBuffer({ serverName: 'shop' })) },
      {
        serverName: 'shop',
      },
    )
    assert.equal((HEARTBEAT_VALUE_SCHEMA as { name: string }).name, 'Heartbeat')
  })
})
