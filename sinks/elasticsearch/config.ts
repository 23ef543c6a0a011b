import { z } from 'zod'
import { INDEX_VARIABLES, unknownIndexVariables } from './index-name.js'

const MIB = 1024 * 1024

/** A `sinks:` entry of type `elasticsearch` (Elasticsearch 8 or OpenSearch 1–3). */
export const elasticsearchConfig = z
  .strictObject({
    type: z.literal('elasticsearch'),
    flavor: z
      .enum(['elasticsearch', 'opensearch'])
      .default('elasticsearch')
      .describe(
        'Server product: `elasticsearch` (client @elastic/elasticsearch) or `opensearch` ' +
          '(client @opensearch-project/opensearch). open() checks the server is that product.',
      ),
    url: z
      .string()
      .url()
      .describe('Base URL of the cluster (http or https); credentials go in username/password or api_key.')
      .meta({ examples: ['http://search:9200'] }),
    index: z
      .string()
      .min(1)
      .default('${table}')
      .describe(
        'Index name template; `${schema}`, `${table}`, `${db}` and `${prefix}` (the Avro record prefix, ' +
          'by default the pipeline name) are filled per table, and the result is lower-cased.',
      )
      .meta({ examples: ['${table}', '${prefix}.${schema}.${table}'] }),
    username: z.string().min(1).optional().describe('Basic authentication user (with `password`).'),
    password: z.string().min(1).optional().describe('Basic authentication password; never logged.'),
    api_key: z
      .string()
      .min(1)
      .optional()
      .describe('API key (the base64 `id:key` form sent as `Authorization: ApiKey ...`); never logged.'),
    create_index: z
      .boolean()
      .default(false)
      .describe(
        'Create a missing index on first use, with mappings derived from the column types (see the ' +
          'README mapping table). Off: missing indices are left to the server (auto-create, templates).',
      ),
    refresh: z
      .union([z.boolean(), z.literal('wait_for')])
      .default(false)
      .describe(
        'Bulk `refresh` parameter: `false` (the index refresh interval decides), `true` (refresh ' +
          'after each request; costly) or `wait_for` (each write waits for the next refresh).',
      ),
    bulk_max_actions: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe('Most actions per `_bulk` request.')
      .meta({ examples: [1000] }),
    bulk_max_bytes: z
      .number()
      .int()
      .min(1024)
      .default(5 * MIB)
      .describe('Most NDJSON bytes per `_bulk` request (a single larger document is sent alone).')
      .meta({ examples: [5 * MIB] }),
    on_mapping_error: z
      .enum(['halt', 'skip'])
      .optional()
      .describe(
        'Deprecated: use the pipeline `on_error` (halt, dead_letter or skip), which this sink applies to a ' +
          'document the index refuses (400: mapping or parsing error) when this key is absent. When set, it ' +
          'overrides on_error for this sink: `halt` stops the pipeline with an error naming index, id and ' +
          'reason, without acknowledging it; `skip` logs it, counts it and goes on.',
      ),
    on_truncate: z
      .enum(['halt', 'ignore'])
      .default('halt')
      .describe(
        'A TRUNCATE of a captured table: `halt` stops with an error naming the table (the index ' +
          'must be emptied by hand); `ignore` leaves the documents in place.',
      ),
    max_retries: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe(
        'Retries of items (or whole requests) answered 429, 5xx, or lost on the network, with ' +
          'exponential backoff and jitter; after that the pipeline stops without acknowledging them.',
      ),
    retry_backoff_ms: z
      .number()
      .int()
      .min(1)
      .default(200)
      .describe('First retry delay (ms); doubled on each retry, with full jitter.'),
    retry_max_backoff_ms: z
      .number()
      .int()
      .min(1)
      .default(30_000)
      .describe('Upper bound of a retry delay (ms).'),
    request_timeout_ms: z
      .number()
      .int()
      .min(100)
      .default(30_000)
      .describe('Timeout of one HTTP request (ms).'),
  })
  .refine((c) => unknownIndexVariables(c.index).length === 0, {
    message: `index template variables are ${INDEX_VARIABLES.map((v) => '${' + v + '}').join(', ')}`,
    path: ['index'],
  })
  .refine((c) => (c.username === undefined) === (c.password === undefined), {
    message: 'username and password go together; set both or neither',
    path: ['password'],
  })
  .refine((c) => c.api_key === undefined || c.username === undefined, {
    message: 'use either api_key or username/password, not both',
    path: ['api_key'],
  })
  .describe(
    'Indexes rows as documents in Elasticsearch or OpenSearch (one document per primary key, deletes ' +
      'delete), with external versions from source positions so replays never regress; idempotent.',
  )

/** Validated Elasticsearch/OpenSearch sink configuration. */
export type ElasticsearchConfig = z.infer<typeof elasticsearchConfig>
