import { z } from 'zod'
import { TOPIC_VARIABLES, unknownPlaceholder } from './topics.js'

/** A `sinks:` entry of type `kafka`. */
export const kafkaConfig = z
  .strictObject({
    type: z.literal('kafka'),
    brokers: z
      .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'))
      .min(1)
      .describe('Bootstrap brokers, `host:port`.')
      .meta({ examples: [['127.0.0.1:9092']] }),
    client_id: z.string().min(1).default('sluice').describe('Kafka client id.'),
    topic: z
      .string()
      .min(1)
      .default('${prefix}.${schema}.${table}')
      .refine((t) => unknownPlaceholder(t) === null, {
        error: (iss) =>
          `unknown placeholder '\${${unknownPlaceholder(String(iss.input))}}'; use ` +
          TOPIC_VARIABLES.map((v) => '${' + v + '}').join(', '),
      })
      .describe(
        'Topic of a table, filled per table: `${prefix}` (avro.prefix, default the pipeline name), ' +
          '`${schema}` (Postgres schema, MySQL database), `${table}`, `${db}` (database). Debezium naming by default.',
      )
      .meta({ examples: ['${prefix}.${schema}.${table}', 'cdc.${table}'] }),
    registry: z
      .url()
      .optional()
      .describe(
        'Confluent-compatible Schema Registry URL (credentials may be given as `user:pass@`). ' +
          'Values and keys then use the Confluent wire format; without it, Avro single-object encoding ' +
          'and every schema written to the compacted topic `<prefix>.schemas`.',
      )
      .meta({ examples: ['http://schema-registry:8081'] }),
    registry_username: z.string().optional().describe('Schema Registry basic-auth user.'),
    registry_password: z.string().optional().describe('Schema Registry basic-auth password (never logged).'),
    subject_strategy: z
      .enum(['topic', 'record'])
      .default('topic')
      .describe(
        '`topic`: TopicNameStrategy subjects `<topic>-key` / `<topic>-value`; ' +
          '`record`: RecordNameStrategy, the record full name (`<prefix>.<schema>.<table>.Key` / `.Envelope`).',
      ),
    tombstones: z
      .boolean()
      .default(true)
      .describe(
        'After each delete, also write a tombstone (the key with a null value) so compaction can drop the key.',
      ),
    transaction_topic: z
      .boolean()
      .default(true)
      .describe('Write BEGIN/END records of every transaction to `<prefix>.transaction` (Debezium format).'),
    create_topics: z
      .boolean()
      .default(true)
      .describe(
        'Create missing topics (compacted table topics) before first use; a cluster without CreateTopics ' +
          'falls back to auto-creation with a warning.',
      ),
    partitions: z.number().int().min(1).default(1).describe('Partitions of topics Sluice creates.'),
    replication_factor: z
      .number()
      .int()
      .min(-1)
      .default(-1)
      .describe('Replication factor of topics Sluice creates (-1: the broker default).'),
    compression: z
      .enum(['none', 'gzip'])
      .default('none')
      .describe('Record batch compression: `none` or `gzip`.'),
    linger_ms: z
      .number()
      .int()
      .min(0)
      .default(5)
      .describe('How long to wait for more batches to join one produce request (ms).'),
    batch_bytes: z
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024)
      .describe(
        'Upper bound of the encoded bytes sent in one produce call (several batches are grouped up to it).',
      ),
    max_message_bytes: z
      .number()
      .int()
      .min(1024)
      .default(1_000_000)
      .describe(
        "Largest record (key + value + headers) Sluice sends; a bigger event is refused before it is sent (KAFKA_MESSAGE_TOO_LARGE) and goes to the pipeline's on_error, instead of failing its whole batch at the broker. Keep it at or below the topics' max.message.bytes (broker default 1048588).",
      ),
    delivery_timeout_ms: z
      .number()
      .int()
      .min(1000)
      .default(120_000)
      .describe(
        'How long a produce may keep failing with retriable errors (broker down, leader moving) before the ' +
          'pipeline stops; retries back off up to 5 s.',
      ),
    request_timeout_ms: z
      .number()
      .int()
      .min(100)
      .default(30_000)
      .describe('Timeout of one broker request (ms).'),
    heartbeat: z
      .strictObject({
        interval_ms: z
          .number()
          .int()
          .min(100)
          .default(10_000)
          .describe('How often a heartbeat record is written, also while no table changes (ms).'),
        topic: z
          .string()
          .min(1)
          .optional()
          .describe(
            "Heartbeat topic; default `__sluice-heartbeat.<prefix>` (like Debezium's `__debezium-heartbeat.<prefix>`).",
          ),
      })
      .optional()
      .describe(
        'Optional heartbeat topic: key `{serverName: <prefix>}`, value `{ts_ms, position}` (the checkpoint of ' +
          'the last batch the brokers acknowledged), Avro encoded like the table topics.',
      ),
  })
  .describe('Writes change events to Kafka topics (Avro key and Debezium envelope); at-least-once.')

/** Validated Kafka sink configuration. */
export type KafkaConfig = z.infer<typeof kafkaConfig>
