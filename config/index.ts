import { SOURCES } from '../connectors/index.js'
import { SINKS } from '../sinks/index.js'
import { TRANSFORMS } from '../transforms/index.js'
import type { Env } from './interpolate.js'
import { loadConfigWith, parseConfigWith, type LoadedConfig } from './load.js'
import { buildConfigSchema } from './schema.js'

export { ConfigInvalidError, formatProblem, redactSecrets, type ConfigProblem } from './errors.js'
export type { Env } from './interpolate.js'
export type { LoadedConfig } from './load.js'
export type { ConnectorConfig, PipelineConfig, SluiceConfig } from './schema.js'

/** The root config schema over every registered source, sink and transform. */
export const configSchema = buildConfigSchema(SOURCES, SINKS, TRANSFORMS)

/**
 * Loads a config file: parse (YAML with positions), interpolate (`${VAR}`, `${file:...}`),
 * validate. Throws ConfigInvalidError listing every problem as `file:line:col: path: message`.
 */
export async function loadConfig(file: string, env: Env = process.env): Promise<LoadedConfig> {
  return loadConfigWith(configSchema, file, env)
}

/** loadConfig() on text already in hand; `file` is only used in problem locations. */
export function parseConfigText(text: string, file: string, env: Env = process.env): LoadedConfig {
  return parseConfigWith(configSchema, text, file, env)
}
