import { SinkError } from '../../pipeline/errors.js'
import type { SearchClient } from './client.js'
import type { ReadClient } from './read-client.js'
import { isIndexMissing } from './read-client.js'

/** Deletes per bulk request. */
const DELETES_PER_BULK = 1000

/**
 * After a snapshot completed: removes from `index` every document whose version is older
 * than `snapshotVersion` (the version every document of that snapshot carries). Such a
 * document was not read by the snapshot, so its row no longer exists at the source: it was
 * left by an interrupted earlier snapshot (a crash before its end was committed makes the
 * next run snapshot again) or from before a re-snapshot, and no streamed delete will ever
 * cover it. Each delete carries `snapshotVersion` as its external version, so the server
 * refuses it (409, counted as newer) for a document a later change rewrote meanwhile.
 * Returns the number of documents deleted.
 */
export async function sweepOlderThan(
  read: ReadClient,
  write: SearchClient,
  index: string,
  snapshotVersion: bigint,
): Promise<number> {
  let page
  try {
    page = await read.scrollStart(index, true)
  } catch (err) {
    if (isIndexMissing(err)) return 0
    throw err
  }
  const stale: string[] = []
  try {
    for (;;) {
      page.ids.forEach((id, i) => {
        // Versions travel as JSON numbers: exact below 2^53, which covers every version
        // the sink derives in practice (see version.ts); a rounded one only delays a sweep.
        if (BigInt(page!.versions[i] ?? 0) < snapshotVersion) stale.push(id)
      })
      const next = page.scrollId
      if (page.ids.length === 0 || next === undefined) break
      page = await read.scrollNext(next)
    }
  } finally {
    if (page?.scrollId !== undefined) await read.scrollClear(page.scrollId).catch(() => undefined)
  }
  let deleted = 0
  const head = `{"delete":{"_index":${JSON.stringify(index)},"version":${snapshotVersion},"version_type":"external","_id":`
  for (let i = 0; i < stale.length; i += DELETES_PER_BULK) {
    const ndjson = stale
      .slice(i, i + DELETES_PER_BULK)
      .map((id) => `${head}${JSON.stringify(id)}}}\n`)
      .join('')
    for (const r of await write.bulk(ndjson, false)) {
      if (r.status < 300) deleted++
      else if (r.status !== 404 && r.status !== 409) {
        throw new SinkError(
          'ES_SWEEP_FAILED',
          `removing documents missing from the snapshot in index ${index} failed: ${r.status} ${r.error?.type ?? ''}: ${r.error?.reason ?? ''}`,
          { retriable: r.status === 429 || r.status >= 500 },
        )
      }
    }
  }
  return deleted
}
