import type { Type } from 'avsc'
import { compileSchema } from '../../avro/codec.js'
import type { AvroSchema } from '../../pipeline/schema.js'

/**
 * The optional heartbeat topic (`heartbeat:`; default `__sluice-heartbeat.<prefix>`), like
 * Debezium's `__debezium-heartbeat.<prefix>`: one record every `interval_ms`, also while no
 * table changes, so consumers and monitoring see the pipeline alive and how far it got.
 *
 *   key:   {"serverName": "<prefix>"}
 *   value: {"ts_ms": 1700000000000, "position": "0/16B6F40"}   (position: the checkpoint of
 *          the last batch every record of which the brokers acknowledged; null before any)
 */
export const HEARTBEAT_KEY_SCHEMA: AvroSchema = {
  type: 'record',
  name: 'ServerNameKey',
  namespace: 'io.sluice.heartbeat',
  fields: [{ name: 'serverName', type: 'string' }],
}

/** Value schema of the heartbeat topic. */
export const HEARTBEAT_VALUE_SCHEMA: AvroSchema = {
  type: 'record',
  name: 'Heartbeat',
  namespace: 'io.sluice.heartbeat',
  fields: [
    { name: 'ts_ms', type: 'long' },
    { name: 'position', type: ['null', 'string'], default: null },
  ],
}

/** Compiled heartbeat key schema. */
export const heartbeatKeyType: Type = compileSchema(HEARTBEAT_KEY_SCHEMA)
/** Compiled heartbeat value schema. */
export const heartbeatValueType: Type = compileSchema(HEARTBEAT_VALUE_SCHEMA)
