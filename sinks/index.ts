import type { SinkEntry } from '../pipeline/registry.js'
import { checkRegistry } from '../pipeline/registry.js'
import { fileEntry } from './file/index.js'
import { stdoutEntry } from './stdout.js'

/** Every sink, by `type` in a pipeline's `sinks:` list. Adding one is one line here. */
export const SINKS: readonly SinkEntry<never>[] = [
  fileEntry as SinkEntry<never>,
  stdoutEntry as SinkEntry<never>,
]
checkRegistry('sink', SINKS)
