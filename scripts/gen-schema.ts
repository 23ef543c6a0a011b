// Writes config/sluice.schema.json, the JSON Schema of sluice.yaml, for editors (yaml-language-server)
// and docs: `npm run schema`. test/unit/config/json-schema.test.ts fails when the file is stale.
import { writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { z } from 'zod'
import { configSchema } from '../config/index.js'

/** Where the generated schema is committed. */
export const SCHEMA_FILE = fileURLToPath(new URL('../config/sluice.schema.json', import.meta.url))

/**
 * The JSON Schema text of the config: the zod input side, so keys with defaults are optional,
 * with `$schema`, `title` and `description` first. Deterministic, ends with a newline.
 */
export function renderConfigJsonSchema(schema: z.ZodType = configSchema): string {
  const {
    $schema: _draft,
    title: _title,
    description: _description,
    ...rest
  } = z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-2020-12',
  })
  const document = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Sluice configuration',
    description:
      'Configuration of sluice, change data capture from Postgres and MySQL/MariaDB to Kafka, Elasticsearch, ' +
      'Redis and files. `${VAR}`, `${VAR:-default}` and `${file:/path}` are interpolated before validation.',
    ...rest,
  }
  return `${JSON.stringify(document, null, 2)}\n`
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(SCHEMA_FILE, renderConfigJsonSchema())
  console.log(`wrote ${SCHEMA_FILE}`)
}
