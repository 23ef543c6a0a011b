/**
 * Helpers for the transform integration tests: read the file sink's output in both formats
 * (with the writer schema of each Avro file) and search every output byte for values that
 * must not be there.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import avro from 'avsc'
import { compileReaderSchema } from '../../../avro/codec.js'

/** Every file under `dir`, recursively, sorted. */
export function filesUnder(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch {
    return []
  }
  return names.flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? filesUnder(p) : [p]
  })
}

/** Every JSON line of every `.jsonl` file under `out`, in file order. */
export function readJsonl(out: string): Record<string, unknown>[] {
  return filesUnder(out)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    )
}

/** One Avro container file: its writer schema (as written in the header) and its records. */
export interface OcfFile {
  readonly path: string
  readonly schema: { name: string; fields: { name: string; type: unknown }[] }
  readonly records: Record<string, unknown>[]
}

/** Decodes every `.avro` file under `out` with avsc. */
export async function readOcf(out: string): Promise<OcfFile[]> {
  const result: OcfFile[] = []
  for (const path of filesUnder(out).filter((f) => f.endsWith('.avro'))) {
    result.push(
      await new Promise<OcfFile>((resolve, reject) => {
        const records: Record<string, unknown>[] = []
        let schema: OcfFile['schema'] | null = null
        avro
          .createFileDecoder(path, { parseHook: (s: unknown) => compileReaderSchema(s) })
          .on('metadata', (_type: unknown, _codec: unknown, header: { meta: Record<string, Buffer> }) => {
            schema = JSON.parse(header.meta['avro.schema']!.toString('utf8')) as OcfFile['schema']
          })
          .on('data', (r: Record<string, unknown>) => records.push(r))
          .on('end', () => resolve({ path, schema: schema!, records }))
          .on('error', reject)
      }),
    )
  }
  return result
}

/** `needle in file` for every needle found in the raw bytes of any file under `dir`. */
export function grepFiles(dir: string, needles: readonly string[]): string[] {
  const hits: string[] = []
  for (const f of filesUnder(dir)) {
    const bytes = readFileSync(f)
    for (const n of needles) if (bytes.includes(Buffer.from(n, 'utf8'))) hits.push(`${n} in ${f}`)
  }
  return hits
}
