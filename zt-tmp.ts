import { postgresConfig } from './connectors/postgres/config.js'
import { fileConfig } from './sinks/file/config.js'
import { buildConfigSchema } from './config/schema.js'
import { parseConfigWith } from './config/load.js'
import { z } from 'zod'
const S = buildConfigSchema([{type:'postgres', config: postgresConfig, create(){throw 1}}], [{type:'file', config: fileConfig, create(){throw 1}}, {type:'stdout', config: z.strictObject({type: z.literal('stdout')}), create(){throw 1}}])
const parseConfigText = (t: string, f: string, e: any) => parseConfigWith(S, t, f, e)
import { ConfigInvalidError } from './config/errors.js'
const text = `pipelines:
  - name: shop
    source:
      type: postgres
      url: postgres://u:\${PG_PASSWORD}@db/shop
      tables: [public.a]
      tabels: x
    sinks:
      - type: file
        path: ./out
        format: parquet
    max_in_flight_events: \${MAX}
    avro: { types: logical }
  - name: shop
    source: { type: mysql }
    transforms: [x]
    sinks: []
  - source:
      type: postgres
    sinks: [{type: stdout}]
admin:
  port: \${PORT}
  bogus: 1
log: {level: loud}
`
try {
  console.log(JSON.stringify(parseConfigText(text, 'x.yaml', { PG_PASSWORD: 'hunter2secret', MAX: '10', PORT: '8081' }), null, 1))
} catch (e) { console.log((e as Error).message) }
console.log(JSON.stringify(parseConfigText('pipelines: [{name: a, source: {type: postgres, url: "${U}", tables: [a]}, sinks: [{type: stdout}]}]\nadmin: {port: "${PORT}"}', 'y.yaml', { U: 'x', PORT: '9' }).config))
