import { z } from 'zod'
import { keyColumnsField, snapshotField } from '../../snapshot/config.js'

/** The `source:` block of a MySQL / MariaDB pipeline. */
export const mysqlConfig = z
  .strictObject({
    type: z.literal('mysql'),
    url: z
      .string()
      .regex(/^(mysql|mariadb):\/\/\S/, 'a mysql:// URL: mysql://user:password@host:port/db')
      .describe(
        'Connection URL `mysql://user:password@host:port/db`; the user needs REPLICATION SLAVE, REPLICATION CLIENT and SELECT on the tables.',
      )
      .meta({ examples: ['mysql://cdc:${MYSQL_PASSWORD}@db:3306/shop'] }),
    tables: z
      .array(z.string().min(1))
      .min(1)
      .describe('Tables to capture: `database.table` names or glob patterns (`shop.*`, `sales.order_?`).')
      .meta({ examples: [['shop.customers', 'shop.orders']] }),
    server_id: z
      .number()
      .int()
      .min(1)
      .max(0xffff_ffff)
      .describe(
        'Replica server id this pipeline uses on the binlog connection. Must differ from the server’s own @@server_id and from every other replica or pipeline on the same server: a second connection with the same id disconnects the first.',
      )
      .meta({ examples: [5401] }),
    snapshot: snapshotField,
    key_columns: keyColumnsField('database.table', { 'shop.events': ['tenant_id', 'event_id'] }),
    heartbeat_interval_ms: z
      .number()
      .int()
      .min(0)
      .max(4_294_967_000)
      .default(10_000)
      .describe(
        'Ask the server for a binlog heartbeat after N ms without events, so a dead connection is noticed within a few intervals (0: off).',
      ),
    bigint_unsigned: z
      .enum(['long', 'precise'])
      .default('long')
      .describe(
        '`long`: BIGINT UNSIGNED as an Avro long (Debezium default; values above 2^63-1 stop the pipeline naming the column); `precise`: Decimal(20,0), never fails.',
      ),
    resume_by: z
      .enum(['auto', 'gtid', 'file'])
      .default('auto')
      .describe(
        'How a restart finds its place in the binlog. `gtid`: by the GTID state stored with the position (MariaDB `@slave_connect_state`, MySQL COM_BINLOG_DUMP_GTID; needs gtid_mode=ON on MySQL), which survives renumbered binlog files and a failover to a replica with the same GTIDs; `file`: by binlog file name and offset; `auto`: GTID when the server has GTIDs and the stored position carries a GTID state, else file.',
      ),
    on_binlog_purged: z
      .enum(['fail', 'snapshot'])
      .default('fail')
      .describe(
        'When the binlog needed to resume was purged: `fail` stops with MYSQL_BINLOG_PURGED and keeps the stored position; `snapshot` logs a warning, takes a new snapshot of every table from a fresh consistent point (changes in between are not seen as separate events) and streams from there.',
      ),
    zero_dates: z
      .enum(['null', 'fail'])
      .default('null')
      .describe(
        'What to do with zero dates (`0000-00-00`, allowed without NO_ZERO_DATE): `null` emits null, `fail` stops the pipeline naming the column.',
      ),
  })
  .describe('MySQL / MariaDB binlog source (row-based replication).')

/** Validated MySQL source configuration. */
export type MysqlConfig = z.infer<typeof mysqlConfig>
