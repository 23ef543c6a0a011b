/**
 * The fields every Debezium `source` block starts with, in Debezium's order: version,
 * connector, name (the pipeline), ts_ms, snapshot (an `io.debezium.data.Enum`) and db.
 * Connectors append their own fields (connectors/<name>/source-info.ts).
 */
export const COMMON_SOURCE_FIELDS = [
  { name: 'version', type: 'string' },
  { name: 'connector', type: 'string' },
  { name: 'name', type: 'string' },
  { name: 'ts_ms', type: 'long' },
  {
    name: 'snapshot',
    type: [
      {
        type: 'string',
        'connect.version': 1,
        'connect.parameters': { allowed: 'true,last,false,incremental' },
        'connect.default': 'false',
        'connect.name': 'io.debezium.data.Enum',
      },
      'null',
    ],
    default: 'false',
  },
  { name: 'db', type: 'string' },
] as const
