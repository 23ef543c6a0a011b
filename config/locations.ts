import { formatPath } from './errors.js'

/**
 * Where validated config objects came from, for errors found after loading (a transform
 * naming a column its table does not have is only detectable once the table's schema is
 * known). Keyed by the validated object itself, so nothing extra travels in the config.
 */
const locations = new WeakMap<object, string>()

/** `file:line:col: key.path` of a validated config object, when the loader recorded one. */
export function configLocation(node: object): string | undefined {
  return locations.get(node)
}

/** The parts of a validated config whose locations are recorded. */
interface Located {
  readonly pipelines: readonly {
    readonly transforms?: readonly object[]
    readonly sinks: readonly { readonly [key: string]: unknown }[]
  }[]
}

/**
 * Records the location of every `transforms:` entry (pipeline and per-sink). Called by the
 * loader after validation; `position(path)` is `file:line:col` of the node at `path`.
 */
export function recordLocations(config: Located, position: (path: readonly PropertyKey[]) => string): void {
  const record = (list: unknown, base: PropertyKey[]): void => {
    if (!Array.isArray(list)) return
    list.forEach((node: unknown, i) => {
      if (typeof node !== 'object' || node === null) return
      const path = [...base, i]
      locations.set(node, `${position(path)}: ${formatPath(path)}`)
    })
  }
  config.pipelines.forEach((p, i) => {
    record(p.transforms, ['pipelines', i, 'transforms'])
    p.sinks.forEach((s, k) => record(s.transforms, ['pipelines', i, 'sinks', k, 'transforms']))
  })
}
