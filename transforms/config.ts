import type { z } from 'zod'
import type { StaticContext, TransformConfig, TransformEntry } from './transform.js'

/** The parts of a validated pipeline the static transform checks read. */
interface PipelineShape {
  readonly source: { readonly type: string; readonly tables?: unknown }
  readonly transforms: readonly TransformConfig[]
  readonly sinks: readonly { readonly type: string; readonly transforms?: readonly TransformConfig[] }[]
}

/**
 * The validate-time checks that need the pipeline around a transform (config/schema.ts runs
 * it as the pipeline's refinement): table patterns that match none of `source.tables`,
 * unwrap in front of a sink that cannot write it. Column names need the catalog; they are
 * checked when a table's first event arrives.
 */
export function checkPipelineTransforms(entries: readonly TransformEntry[]) {
  return (p: PipelineShape, ctx: z.core.$RefinementCtx): void => {
    const tables = Array.isArray(p.source?.tables)
      ? p.source.tables.filter((t): t is string => typeof t === 'string')
      : []
    const run = (list: readonly TransformConfig[], base: (string | number)[], sinkTypes: string[]): void => {
      const sc: StaticContext = { tables, sinkTypes }
      list.forEach((cfg, i) => {
        const entry = entries.find((e) => e.type === cfg?.type)
        // Entries with problems of their own were reported already; checking them could mislead.
        if (!entry?.check || !entry.config.safeParse(cfg).success) return
        for (const problem of entry.check(cfg, sc)) {
          ctx.addIssue({ code: 'custom', path: [...base, i, ...problem.path], message: problem.message })
        }
      })
    }
    const sinks: readonly (PipelineShape['sinks'][number] | null)[] = Array.isArray(p.sinks) ? p.sinks : []
    const list = (l: unknown): readonly TransformConfig[] => (Array.isArray(l) ? l : [])
    run(list(p.transforms), ['transforms'], [...new Set(sinks.map((s) => String(s?.type)))])
    sinks.forEach((s, k) => s && run(list(s.transforms), ['sinks', k, 'transforms'], [s.type]))
  }
}
