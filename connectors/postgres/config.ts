import { z } from 'zod'
import { keyColumnsField, snapshotField } from '../../snapshot/config.js'

/** The `source:` block of a Postgres pipeline. */
export const postgresConfig = z
  .strictObject({
    type: z.literal('postgres'),
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S/, 'a postgres:// URL: postgres://user:password@host:port/db')
      .describe('Connection URL; the user needs REPLICATION (or superuser) and SELECT on the tables.')
      .meta({ examples: ['postgres://sluice:${PG_PASSWORD}@db:5432/shop'] }),
    tables: z
      .array(z.string().min(1))
      .min(1)
      .describe('Tables to capture: `schema.table` names or glob patterns (`public.*`, `sales.order_?`).')
      .meta({ examples: [['public.customers', 'public.orders']] }),
    slot: z
      .string()
      .regex(/^[a-z0-9_]{1,63}$/, 'lower-case letters, digits and _ (at most 63)')
      .optional()
      .describe('Logical replication slot; default `sluice_<pipeline>` (non-alphanumerics become _).'),
    publication: z
      .string()
      .min(1)
      .max(63)
      .optional()
      .describe('Publication; default `sluice_<pipeline>`. Created for the configured tables when missing.'),
    snapshot: snapshotField,
    key_columns: keyColumnsField('schema.table', { 'public.events': ['tenant_id', 'event_id'] }),
    slot_wait_ms: z
      .number()
      .int()
      .min(0)
      .default(5_000)
      .describe(
        'When the slot is still held by a server process (a consumer that just died, whose walsender has not exited yet), wait up to this long for it to be released before failing with PG_SLOT_ACTIVE.',
      ),
    on_slot_lost: z
      .enum(['fail', 'snapshot'])
      .default('fail')
      .describe(
        'When the stored position cannot be resumed because the replication slot is gone (dropped) or was invalidated by the server (`max_slot_wal_keep_size` exceeded, `wal_status = lost`): `fail` stops with PG_SLOT_MISSING or PG_SLOT_INVALIDATED and keeps the stored position; `snapshot` logs a warning, drops the unusable slot, takes a new snapshot of every table from a new slot and streams from there (changes in between are not seen as separate events; deletes in particular).',
      ),
    heartbeat_interval_ms: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Emit pg_logical_emit_message every N ms so an idle database does not retain WAL (0: off).'),
    status_interval_ms: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe('How often to send a standby status update while idle (ms).'),
  })
  .describe('Postgres logical replication source (pgoutput).')

/** Validated Postgres source configuration. */
export type PostgresConfig = z.infer<typeof postgresConfig>
