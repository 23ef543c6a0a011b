import type { Admin } from 'kafkajs'
import type { Logger } from 'pino'
import { ConfigError } from '../../pipeline/errors.js'
import type { TableSchema } from '../../pipeline/schema.js'

/** Placeholders a topic template may use, filled per table. */
export const TOPIC_VARIABLES = ['prefix', 'schema', 'table', 'db'] as const

const PLACEHOLDER = /\$\{([^}]*)\}/g
/** Kafka's legal topic characters (`Topic.LEGAL_CHARS`) and length limit. */
const ILLEGAL = /[^A-Za-z0-9._-]/g
const MAX_TOPIC = 249

/** The first placeholder of `template` that is not a topic variable, or null. */
export function unknownPlaceholder(template: string): string | null {
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (!(TOPIC_VARIABLES as readonly string[]).includes(m[1]!)) return m[1]!
  }
  return null
}

/** A compiled topic template: table → topic name. */
export type TopicTemplate = (table: TableSchema) => string

/**
 * Compiles `template`, failing with a ConfigError naming an unknown placeholder. Every
 * character Kafka does not allow in a topic name becomes `_` (as Debezium's topic naming
 * does), so a table called `order items` goes to `shop.public.order_items`.
 */
export function compileTopicTemplate(template: string, prefix: string): TopicTemplate {
  const unknown = unknownPlaceholder(template)
  if (unknown !== null) {
    throw new ConfigError(
      'KAFKA_TOPIC_TEMPLATE',
      `kafka sink topic template '${template}' uses unknown placeholder '\${${unknown}}'; ` +
        `use ${TOPIC_VARIABLES.map((v) => '${' + v + '}').join(', ')}`,
    )
  }
  return (t) => {
    const vars: Record<string, string> = { prefix, schema: t.schema, table: t.table, db: t.db }
    return topicName(template.replace(PLACEHOLDER, (_, name: string) => vars[name] ?? ''))
  }
}

/** Makes a string a legal topic name. */
export function topicName(s: string): string {
  return s.replace(ILLEGAL, '_').slice(0, MAX_TOPIC)
}

/** What a topic holds, which decides its cleanup policy. */
export interface TopicSpec {
  readonly topic: string
  /** Table topics and the schema topic are compacted; the transaction topic is not. */
  readonly compact: boolean
}

/**
 * Creates missing topics through the admin client. CreateTopics goes to the controller;
 * `canCreate` is false when the cluster has none we can reach (librdkafka's mock cluster
 * reports a controller id that is not a broker) or creation is turned off: topics are then
 * auto-created by the broker on first produce, with its default settings. Any other
 * CreateTopics failure is logged as a warning and auto-creation is relied on.
 */
export class TopicCreator {
  private readonly done = new Set<string>()

  constructor(
    private readonly admin: Admin | null,
    private readonly opts: { partitions: number; replicationFactor: number },
    private readonly log: Logger,
  ) {}

  async ensure(specs: readonly TopicSpec[]): Promise<void> {
    const todo = specs.filter((s) => !this.done.has(s.topic))
    if (todo.length === 0) return
    for (const s of todo) this.done.add(s.topic)
    if (!this.admin) return
    try {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: todo.map((s) => ({
          topic: s.topic,
          numPartitions: this.opts.partitions,
          replicationFactor: this.opts.replicationFactor,
          configEntries: [{ name: 'cleanup.policy', value: s.compact ? 'compact' : 'delete' }],
        })),
      })
    } catch (err) {
      this.log.warn(
        { err, topics: todo.map((s) => s.topic) },
        'creating topics failed; relying on broker auto-creation with its default settings',
      )
    }
  }
}
