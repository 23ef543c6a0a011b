import type { z } from 'zod'
import type { Sink, SinkContext } from './sink.js'
import type { Source, SourceContext } from './source.js'
import type { SourceScanner, Verifier } from './verify.js'

/**
 * A registry entry for a source connector: connectors/index.ts lists them in an explicit
 * array. `config` is the zod schema of the `source:` block, including its `type` literal.
 */
export interface SourceEntry<C = unknown> {
  readonly type: string
  readonly config: z.ZodType<C>
  create(config: C, ctx: SourceContext): Source
  /** Removes what the source created upstream (slots, publications); returns what it did. */
  cleanup?(config: C, ctx: SourceContext): Promise<string[]>
  /** Reads the tables in key order for `sluice verify` (pipeline/verify.ts). */
  scan?(config: C, ctx: SourceContext): SourceScanner
}

/** A registry entry for a sink: sinks/index.ts lists them in an explicit array. */
export interface SinkEntry<C = unknown> {
  readonly type: string
  readonly config: z.ZodType<C>
  create(config: C, ctx: SinkContext): Sink
  /** Reads back what the sink stored, for `sluice verify`; or why this config cannot be verified. */
  verifier?(config: C, ctx: SinkContext): Verifier
}

/** Fails at boot when two entries share a `type` (as Fastify checks plugins). */
export function checkRegistry(kind: string, entries: readonly { type: string }[]): void {
  const seen = new Set<string>()
  for (const e of entries) {
    if (seen.has(e.type)) throw new Error(`duplicate ${kind} type '${e.type}' in the registry`)
    seen.add(e.type)
  }
}
