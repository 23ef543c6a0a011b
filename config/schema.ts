import { z } from 'zod'
import type { SinkEntry, SourceEntry } from '../pipeline/registry.js'
import type { AvroOptions } from '../pipeline/source.js'
import { checkPipelineTransforms } from '../transforms/config.js'
import type { TransformEntry } from '../transforms/transform.js'

/**
 * A validated `source:` block or `sinks:` entry. Its exact shape is the output of the
 * registry entry's own schema, selected by `type`; the runner hands it to that entry's create().
 */
export interface ConnectorConfig {
  readonly type: string
  readonly [key: string]: unknown
}

const PIPELINE_NAME = /^[A-Za-z0-9_-]{1,64}$/

/** Discriminated union on `type` over registry entries, with errors that list the known types. */
function connectorUnion(
  kind: 'source' | 'sink' | 'transform',
  entries: readonly (SourceEntry | SinkEntry | TransformEntry)[],
): z.ZodType<ConnectorConfig> {
  const known = entries.length === 0 ? '(none registered)' : entries.map((e) => e.type).join(', ')
  // Registry entries type their schema as ZodType<C>; each is a strict object with a `type`
  // literal (checked by discriminatedUnion when it is built), which is what it needs.
  const options = entries.map((e) => e.config) as unknown as [z.core.$ZodTypeDiscriminable]
  return z.discriminatedUnion('type', options, {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined
      const hasType = typeof iss.input === 'object' && iss.input !== null && 'type' in iss.input
      // The value is not echoed: it may have come from an environment variable.
      return hasType
        ? `unknown ${kind} type; known types: ${known}`
        : `missing ${kind} type; set type to one of: ${known}`
    },
  }) as unknown as z.ZodType<ConnectorConfig>
}

const avroSchema = z
  .strictObject({
    types: z
      .enum(['debezium', 'logical'])
      .default('debezium')
      .describe(
        '`debezium`: Kafka Connect / Debezium semantic types (what Debezium with the AvroConverter produces); ' +
          '`logical`: standard Avro logical types.',
      ),
    prefix: z
      .string()
      .min(1)
      .optional()
      .describe('Avro record-name prefix (`<prefix>.<schema>.<table>.Value`); default: the pipeline name.')
      .meta({ examples: ['shop'] }),
    unsupported: z
      .enum(['fail', 'string'])
      .default('fail')
      .describe(
        'A column of a type with no Avro mapping: `fail` naming it, or carry its text rendering as a string.',
      ),
  })
  // prefault, not default: zod 4 returns a default as-is, prefault parses it so the
  // inner defaults apply; the same below for state and log.
  .prefault({})
  .describe('How change events are encoded as Avro.')

const stateSchema = z
  .strictObject({
    type: z.literal('file').default('file').describe('State store kind; only `file` for now.'),
    path: z
      .string()
      .min(1)
      .refine((p) => !p.includes('\0'), 'a path cannot contain a NUL byte')
      .default('./state')
      .describe('Directory holding source positions and snapshot progress, one file per pipeline.')
      .meta({ examples: ['./state', '/var/lib/sluice'] }),
  })
  .prefault({})
  .describe('Where positions and snapshot progress live.')

const adminSchema = z
  .strictObject({
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe('Interface to listen on; `0.0.0.0` exposes health, metrics and status to the network.')
      .meta({ examples: ['127.0.0.1', '0.0.0.0'] }),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(8080)
      .describe('TCP port (0: any free port; the bound address is logged as `admin API listening`).')
      .meta({ examples: [8080, 0] }),
    token: z
      .string()
      .min(16, 'must be at least 16 characters; generate one with `openssl rand -hex 32`')
      .optional()
      .describe(
        'Bearer token required on every route except /healthz (`Authorization: Bearer <token>`; the status ' +
          'page also accepts it as the Basic-auth password). A secret: set it from the environment.',
      )
      .meta({ examples: ['${SLUICE_ADMIN_TOKEN}'] }),
  })
  .optional()
  .describe(
    'Admin HTTP API: /healthz, /readyz, /metrics (Prometheus), /api/pipelines (status, pause, resume) and ' +
      'the status page at /. Served only when this block is present.',
  )

const logSchema = z
  .strictObject({
    level: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
      .default('info')
      .describe('Lowest level written; `info` logs lifecycle only (start, phase change, stop).'),
  })
  .prefault({})
  .describe('Logging (JSON lines on stderr).')

const deadLetterSchema = z
  .discriminatedUnion(
    'type',
    [
      z
        .strictObject({
          type: z.literal('file'),
          path: z
            .string()
            .min(1)
            .refine((p) => !p.includes('\0'), 'a path cannot contain a NUL byte')
            .describe(
              'File the records are appended to, one JSON object per line; fsynced before the position moves.',
            )
            .meta({ examples: ['./dead-letter/shop.jsonl'] }),
        })
        .describe('Dead letters as JSON lines in a local file.'),
      z
        .strictObject({
          type: z.literal('kafka'),
          brokers: z
            .array(z.string().min(1))
            .min(1)
            .describe('Bootstrap brokers (`host:port`).')
            .meta({ examples: [['kafka:9092']] }),
          topic: z
            .string()
            .min(1)
            .describe('Topic the records are produced to (acks -1); left to broker auto-creation.')
            .meta({ examples: ['shop.dead-letter'] }),
          client_id: z
            .string()
            .min(1)
            .optional()
            .describe('Kafka client id; default `sluice-<pipeline>-dead-letter`.'),
        })
        .describe('Dead letters as messages on a Kafka topic (value: the record JSON, key: the table).'),
      z
        .strictObject({
          type: z.literal('redis'),
          url: z
            .string()
            .url()
            .describe(
              'Redis URL (`redis://[user:password@]host:port[/db]`); a password in it is never logged.',
            )
            .meta({ examples: ['redis://localhost:6379'] }),
          stream: z
            .string()
            .min(1)
            .describe('Stream the records are added to (XADD, field `record`: the record JSON).')
            .meta({ examples: ['shop:dead-letter'] }),
          maxlen: z
            .number()
            .int()
            .min(1)
            .optional()
            .describe('Cap the stream at about this many entries (`XADD MAXLEN ~`); default: no cap.'),
        })
        .describe('Dead letters as entries of a Redis stream.'),
    ],
    {
      error: (iss) =>
        iss.code === 'invalid_union' ? 'dead_letter needs type: file, kafka or redis' : undefined,
    },
  )
  .optional()
  .describe(
    'Where rejected events go when on_error is dead_letter (required then): a JSON-lines file, a Kafka ' +
      'topic or a Redis stream. Each record holds the event, the error and the position.',
  )

/** `on_error: dead_letter` needs a `dead_letter` block, and a `dead_letter` block needs that setting. */
function checkDeadLetter(p: { on_error?: string; dead_letter?: unknown }, ctx: z.core.$RefinementCtx): void {
  if (p.on_error === 'dead_letter' && p.dead_letter === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['on_error'],
      message:
        'on_error is dead_letter but the pipeline has no dead_letter block; add one (dead_letter: {type: file, ' +
        'path: ...}, or type kafka or redis), or set on_error to halt or skip',
    })
  if (p.on_error !== 'dead_letter' && p.dead_letter !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['dead_letter'],
      message: `dead_letter is set but on_error is ${p.on_error ?? 'halt'}; set on_error: dead_letter, or remove the dead_letter block`,
    })
}

/** Reports each repeated pipeline name at the repeat, naming where it was first used. */
function uniqueNames(pipelines: unknown, ctx: z.core.$RefinementCtx): void {
  if (!Array.isArray(pipelines)) return
  const first = new Map<string, number>()
  pipelines.forEach((p: unknown, i) => {
    const name = typeof p === 'object' && p !== null ? (p as { name?: unknown }).name : undefined
    if (typeof name !== 'string') return
    const at = first.get(name)
    if (at === undefined) first.set(name, i)
    else
      ctx.addIssue({
        code: 'custom',
        path: [i, 'name'],
        message: `duplicate pipeline name '${name}' (already used by pipelines[${at}]); pipeline names must be unique`,
      })
  })
}

/**
 * The root config schema over the given registries (connectors/index.ts, sinks/index.ts).
 * It validates and fills static defaults only; `avro.prefix` is derived afterwards by
 * withDerivedDefaults(). Every object is strict: an unknown key is an error.
 */
export function buildConfigSchema(
  sources: readonly SourceEntry[],
  sinks: readonly SinkEntry[],
  transforms: readonly TransformEntry[] = [],
) {
  const transformList = z
    .array(connectorUnion('transform', transforms))
    .describe(
      'Per-event transforms, applied in order: columns, filter, route, mask, unwrap; `type` selects one.',
    )
  // A sink entry may carry its own `transforms` (applied after the pipeline's, for that sink
  // only). Each sink's own schema knows nothing of it: the key is added to every sink schema
  // here (safeExtend keeps the sink's refinements), and cli/run.ts takes it off again before
  // the sink's create() sees the config.
  const sinkEntries = sinks.map((e) =>
    e.config instanceof z.ZodObject
      ? { ...e, config: e.config.safeExtend({ transforms: transformList.optional() }) }
      : e,
  )
  const pipeline = z
    .strictObject({
      name: z
        .string()
        .regex(PIPELINE_NAME, 'must be 1 to 64 letters, digits, _ or -')
        .describe('Unique pipeline name; keys its state, metrics and logs, and defaults the Avro prefix.')
        .meta({ examples: ['shop'] }),
      source: connectorUnion('source', sources).describe(
        'Where changes come from; `type` selects the connector.',
      ),
      // An empty tuple rather than array().max(0): zod aborts the whole parse on an
      // over-long array (before reading its items), which would hide other problems.
      transforms: transformList.default([]),
      sinks: z
        .array(connectorUnion('sink', sinkEntries))
        .min(1, 'a pipeline needs at least one sink; add an entry under sinks')
        .describe('Where change events go; each sink receives every event. `type` selects the sink.'),
      avro: avroSchema,
      max_in_flight_events: z
        .number()
        .int()
        .min(1)
        .default(8_000)
        .describe('Back-pressure: at most this many events read but not yet durable in every sink.')
        .meta({ examples: [8_000] }),
      max_in_flight_bytes: z
        .number()
        .int()
        .min(1024)
        .default(64 * 1024 * 1024)
        .describe('Back-pressure: at most this many bytes of events read but not yet durable in every sink.')
        .meta({ examples: [67_108_864] }),
      on_error: z
        .enum(['halt', 'dead_letter', 'skip'])
        .default('halt')
        .describe(
          'An event that fails permanently on its own (a value the source cannot convert, a document a sink ' +
            'refuses): `halt` stops the pipeline with the error, the position stays before the event; ' +
            '`dead_letter` writes it to `dead_letter` durably and goes on; `skip` logs and counts it ' +
            '(sluice_events_skipped_total) and goes on. Retriable errors are always retried.',
        ),
      dead_letter: deadLetterSchema,
    })
    .superRefine(checkPipelineTransforms(transforms))
    .superRefine(checkDeadLetter)
    .describe('One source, its tables, and the sinks its change events go to.')

  return z
    .strictObject({
      pipelines: z
        .array(pipeline)
        .min(1, 'at least one pipeline is required; add an entry under pipelines')
        // `when` makes the check run even when some pipeline is invalid, so a duplicate
        // name is reported together with everything else.
        .superRefine(uniqueNames, { when: () => true })
        .describe('The pipelines this process runs; names must be unique.'),
      state: stateSchema,
      admin: adminSchema,
      log: logSchema,
    })
    .describe('Sluice configuration: change data capture pipelines from databases to sinks.')
}

/** The root schema type; z.input of it is what the YAML may contain. */
export type ConfigSchema = ReturnType<typeof buildConfigSchema>

type Validated = z.output<ConfigSchema>

/** One validated pipeline, with its Avro options complete. */
export type PipelineConfig = Omit<Validated['pipelines'][number], 'avro'> & { readonly avro: AvroOptions }

/** A validated config with every default applied: what loadConfig() returns. */
export type SluiceConfig = Omit<Validated, 'pipelines'> & { readonly pipelines: PipelineConfig[] }

/**
 * Applies the defaults that depend on other values, after validation: `avro.prefix`
 * defaults to the pipeline name (kept out of the schema so JSON Schema shows it as optional).
 */
export function withDerivedDefaults(config: Validated): SluiceConfig {
  return {
    ...config,
    pipelines: config.pipelines.map((p) => ({ ...p, avro: { ...p.avro, prefix: p.avro.prefix ?? p.name } })),
  }
}
