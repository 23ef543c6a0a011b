/**
 * The source-fault harness shared by faults-postgres.test.ts and faults-mysql.test.ts: one
 * real `sluice run` process, connected to its database through a TCP proxy, must survive a
 * list of faults under write load (connections cut, server threads killed, server
 * restarts) by restarting the pipeline on its own. After each fault the committed position
 * must move again; at the end, after a sentinel row is committed and the process stopped
 * cleanly, the output must replay to exactly the source table, and every re-delivered event
 * must be identical to its first delivery.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { exitWithin, spawnCli } from './cli.js'
import {
  applyEvent,
  diffRows,
  forEachEnvelope,
  loadRowOf,
  readStatePosition,
  seriesFiles,
  sleep,
  type LoadRow,
} from './crash.js'
import { tempDir, waitFor } from './pipeline.js'
import type { FaultProxy } from './proxy.js'

export interface FaultScenario {
  readonly pipeline: string
  /** The table as the file sink names its directory. */
  readonly series: string
  /** The `source:` block, unindented; its URL must point at the proxy. */
  readonly source: string
  readonly proxy: FaultProxy
  /** The part of a position that sorts. */
  sortKey(position: string): string
  /** Whether a committed position is a streaming one (the snapshot is over). */
  streaming(position: string): boolean
  /** Injected in order; after each, the pipeline must make progress again. */
  readonly faults: readonly { readonly name: string; inject(): Promise<void> }[]
  /** Starts the write load; stop() returns the number of transactions written. */
  startWriter(): { stop(): Promise<number> }
  /** Inserts the row `(-1, 0, 'sentinel')`. */
  insertSentinel(): Promise<void>
  /** The table's rows `(id, v, note)`. */
  rows(): Promise<LoadRow[]>
}

/** The fault every scenario starts with: every connection cut, new ones refused for `ms`. */
export function proxyCut(proxy: FaultProxy, ms = 2_000): FaultScenario['faults'][number] {
  return {
    name: `every connection cut, new ones refused for ${ms} ms`,
    async inject() {
      proxy.cut()
      await sleep(ms)
      proxy.restore()
    },
  }
}

/** The run's seed (SLUICE_FAULT_SEED replays one), reported as a test diagnostic. */
export function faultSeed(t: TestContext): number {
  const seed = Number(process.env.SLUICE_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 32))
  t.diagnostic(`seed ${seed} (replay with SLUICE_FAULT_SEED=${seed})`)
  return seed
}

/** `url` with its port replaced by the proxy's (asserting it changed). */
export function viaProxy(url: string, serverPort: number, proxy: FaultProxy): string {
  const proxied = url.replace(`:${serverPort}/`, `:${proxy.port}/`)
  assert.notEqual(proxied, url, 'the pipeline connects through the proxy')
  return proxied
}

export async function runFaultScenario(t: TestContext, s: FaultScenario): Promise<void> {
  const tmp = tempDir()
  const out = join(tmp.dir, 'out')
  const stateDir = join(tmp.dir, 'state')
  const config = join(tmp.dir, 'sluice.yaml')
  writeFileSync(
    config,
    `pipelines:
  - name: ${s.pipeline}
    source:
${s.source.replace(/^/gm, '      ')}
    sinks:
      - { type: file, path: ${out}, format: avro }
state: { type: file, path: ${stateDir} }
`,
  )
  const writer = s.startWriter()
  const sluice = spawnCli(['run', '-c', config], { cwd: tmp.dir })
  const committed = (): string | null => {
    const p = readStatePosition(stateDir, s.pipeline)
    return p === null ? null : s.sortKey(p)
  }
  /** Waits until the committed position is a streaming one past `than`. */
  const progressed = (than: string | null, what: string): Promise<string> =>
    waitFor(
      () => {
        const c = committed()
        return c !== null && s.streaming(c) && (than === null || c > than) ? c : null
      },
      60_000,
      what,
    )
  try {
    let pos = await progressed(null, 'streaming after the snapshot')
    const acceptedBefore = s.proxy.accepted
    for (const fault of s.faults) {
      await fault.inject()
      pos = await progressed(pos, `progress after: ${fault.name}`)
    }
    const txs = await writer.stop()
    t.diagnostic(`${txs} writer transactions; ${s.proxy.accepted} connections through the proxy`)
    assert.ok(
      s.proxy.accepted > acceptedBefore,
      'the pipeline reconnected through the proxy after the faults',
    )
    assert.match(sluice.stderr(), /restarting in \d+ ms/, 'restarts were logged')
    assert.equal(sluice.child.exitCode, null, 'sluice kept running through every fault')

    // Everything written is delivered: wait for the sentinel to be committed, stop cleanly.
    await s.insertSentinel()
    const sentinel = await waitFor(
      async () => {
        let at = ''
        for (const f of seriesFiles(out, s.series).slice(-2)) {
          await forEachEnvelope(join(out, s.series, f), (e) => {
            if (e.op === 'c' && Number(e.after!.id) === -1) at = s.sortKey(e.source.position)
          })
        }
        return at || null
      },
      60_000,
      'the sentinel delivered',
    )
    await waitFor(() => (committed() ?? '') >= sentinel, 30_000, 'the sentinel committed')
    sluice.kill('SIGTERM')
    const exit = await exitWithin(sluice, 20_000)
    assert.equal(exit.code, 0, `clean exit; stderr:\n${sluice.stderr().slice(-3000)}`)

    // Replay the output: the image must equal the table; duplicates must be identical.
    const image = new Map<number, LoadRow>()
    const seen = new Map<string, string>()
    const violations: string[] = []
    let duplicates = 0
    for (const f of seriesFiles(out, s.series)) {
      await forEachEnvelope(join(out, s.series, f), (e) => {
        const key = s.sortKey(e.source.position)
        const fp = JSON.stringify([e.op, e.before, e.after])
        const prev = seen.get(key)
        if (prev === undefined) {
          seen.set(key, fp)
          const err = applyEvent(image, e, loadRowOf)
          if (err) violations.push(err)
        } else if (prev !== fp) violations.push(`duplicate at ${key} differs from its first delivery`)
        else duplicates++
      })
    }
    t.diagnostic(`${seen.size} distinct events, ${duplicates} re-delivered`)
    assert.deepEqual(violations, [])
    const diff = diffRows(image, await s.rows())
    assert.equal(diff.count, 0, `replayed output differs from the table:\n${diff.sample.join('\n')}`)
  } catch (err) {
    t.diagnostic(`sluice stderr (tail):\n${sluice.stderr().slice(-6000)}`)
    throw err
  } finally {
    await writer.stop().catch(() => undefined)
    sluice.kill('SIGKILL')
    await sluice.exited
    tmp.cleanup()
  }
}
