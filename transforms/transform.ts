import type { z } from 'zod'
import type { ChangeEvent } from '../pipeline/event.js'

/** A validated `transforms:` entry; its exact shape is the output of its entry's own schema. */
export interface TransformConfig {
  readonly type: string
  readonly [key: string]: unknown
}

/**
 * One configured transform, applied to every event in order. Whatever it derives per table
 * (a changed TableSchema, compiled matchers) it caches per source TableSchema object, so
 * codec caches keyed by schema object keep working and a rebuilt source schema (new
 * version) gets a newly derived one.
 */
export interface Transform {
  /**
   * The event as this transform emits it, or null to drop it. Never mutates `ev`. Throws a
   * ConfigError naming the transform (`where`) when its configuration does not fit the
   * event's table (an unknown column, a key column excluded), or an EncodeError when one
   * event cannot be transformed.
   */
  apply(ev: ChangeEvent): ChangeEvent | null
}

/** What a transform's create() gets besides its own validated config. */
export interface TransformContext {
  readonly pipeline: string
  /**
   * Where the transform is configured, for error messages:
   * `sluice.yaml:14:9: pipelines[0].transforms[1]` (or the key path alone when the
   * configuration did not come from a file).
   */
  readonly where: string
}

/** What the static (validate-time) checks of a transform can see besides its own config. */
export interface StaticContext {
  /** The pipeline's `source.tables` patterns (`schema.table` names or globs). */
  readonly tables: readonly string[]
  /** The `type` of every sink this transform's output reaches. */
  readonly sinkTypes: readonly string[]
}

/** A problem found by a static check; `path` is relative to the transform's entry. */
export interface StaticProblem {
  readonly path: readonly (string | number)[]
  readonly message: string
}

/**
 * A registry entry for a transform: transforms/index.ts lists them in an explicit array.
 * `config` is the zod schema of one `transforms:` entry, a strict object with a `type`
 * literal; syntax (expressions, globs) is checked there, so `sluice validate` reports it.
 */
export interface TransformEntry<C = unknown> {
  readonly type: string
  readonly config: z.ZodType<C>
  /** Checks that need the pipeline around the transform (source tables, sink types). */
  check?(config: C, ctx: StaticContext): StaticProblem[]
  create(config: C, ctx: TransformContext): Transform
}
