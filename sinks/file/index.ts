import type { SinkEntry } from '../../pipeline/registry.js'
import { fileConfig, type FileConfig } from './config.js'
import { createFileSink } from './sink.js'

/** Registry entry of the file sink (`type: file`). */
export const fileEntry: SinkEntry<FileConfig> = {
  type: 'file',
  config: fileConfig,
  create: (config, ctx) => createFileSink(config, ctx),
}
