import { configLocation } from '../config/locations.js'
import { checkRegistry } from '../pipeline/registry.js'
import type { Sink } from '../pipeline/sink.js'
import type { Source } from '../pipeline/source.js'
import { TransformingSink, TransformingSource } from '../pipeline/transform.js'
import { TransformChain } from './chain.js'
import { columnsEntry } from './columns.js'
import { filterEntry } from './filter.js'
import { maskEntry } from './mask.js'
import { routeEntry } from './route.js'
import type { TransformConfig, TransformEntry } from './transform.js'
import { unwrapEntry } from './unwrap.js'

/** Every transform, by `type` in a `transforms:` list. Adding one is one line here. */
export const TRANSFORMS: readonly TransformEntry<never>[] = [
  columnsEntry as TransformEntry<never>,
  filterEntry as TransformEntry<never>,
  routeEntry as TransformEntry<never>,
  maskEntry as TransformEntry<never>,
  unwrapEntry as TransformEntry<never>,
]
checkRegistry('transform', TRANSFORMS)

/**
 * The chain for a validated `transforms:` list; null when the list is empty. `at` names the
 * list for messages when the configuration did not come from a file
 * (`pipelines[0].transforms`); a loaded file's own locations take precedence.
 */
export function createChain(
  configs: readonly TransformConfig[],
  pipeline: string,
  at: string,
): TransformChain | null {
  if (configs.length === 0) return null
  const steps = configs.map((cfg, i) => {
    const entry = TRANSFORMS.find((e) => e.type === cfg.type) as TransformEntry<unknown> | undefined
    if (!entry) throw new Error(`no transform registered for type '${cfg.type}'`) // validation makes this unreachable
    const where = `${configLocation(cfg) ?? `${at}[${i}]`} (${cfg.type})`
    return entry.create(cfg, { pipeline, where })
  })
  return new TransformChain(steps)
}

/** The source with the pipeline-level transforms applied to every batch (unchanged when there are none). */
export function transformSource(
  source: Source,
  configs: readonly TransformConfig[],
  pipeline: string,
): Source {
  const chain = createChain(configs, pipeline, `pipeline ${pipeline} transforms`)
  return chain ? new TransformingSource(source, chain) : source
}

/** The sink with its own transforms applied to every batch it writes (unchanged when there are none). */
export function transformSink(
  sink: Sink,
  configs: readonly TransformConfig[],
  pipeline: string,
  index: number,
): Sink {
  const chain = createChain(configs, pipeline, `pipeline ${pipeline} sinks[${index}].transforms`)
  return chain ? new TransformingSink(sink, chain) : sink
}
