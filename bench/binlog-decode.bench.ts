/**
 * Binlog decode throughput on one core: the captured benchmark binlog
 * (test/fixtures/binlog/mariadb-10.11/binlog.000002: 4000 INSERT and 4000 UPDATE row changes
 * of the 7-column shop.orders table, CRC32) decoded end to end, every value, CRC checked,
 * round after round. Reports row changes per second (median round). For reference it times
 * `mariadb-binlog -v` (C, decodes to pseudo-SQL text) on the same file when installed.
 *
 *   npx tsx bench/binlog-decode.bench.ts [rounds=15] [passesPerRound=10]
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { BinlogDecoder, binlogFileEvents } from '../connectors/mysql/binlog/index.js'

const rounds = Number(process.argv[2] ?? 15)
const passes = Number(process.argv[3] ?? 10)
const path = fileURLToPath(new URL('../test/fixtures/binlog/mariadb-10.11/binlog.000002', import.meta.url))
const file = readFileSync(path)
const events = [...binlogFileEvents(file)].map((e) => e.bytes)

/** Decodes the whole file once; returns the number of row changes. */
function pass(): number {
  const d = new BinlogDecoder()
  let rows = 0
  for (let i = 0; i < events.length; i++) {
    const e = d.decode(events[i]!)
    if (e.type === 'writeRows' || e.type === 'updateRows' || e.type === 'deleteRows') rows += e.rows.length
  }
  return rows
}

for (let i = 0; i < 3; i++) pass() // warm-up
const rates: number[] = []
let rowsPerPass = 0
for (let r = 0; r < rounds; r++) {
  const t0 = process.hrtime.bigint()
  for (let p = 0; p < passes; p++) rowsPerPass = pass()
  const ns = Number(process.hrtime.bigint() - t0)
  rates.push((rowsPerPass * passes) / (ns / 1e9))
}
rates.sort((a, b) => a - b)
const median = rates[rates.length >> 1]!
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
})()
console.log(`machine: ${cpus()[0]?.model ?? 'unknown'}, node ${process.version}, commit ${commit}`)
console.log(`file: ${file.length} bytes, ${events.length} events, ${rowsPerPass} row changes per pass`)
console.log(
  `sluice BinlogDecoder: median ${Math.round(median / 1000)}k row changes/s ` +
    `(min ${Math.round(rates[0]! / 1000)}k, max ${Math.round(rates.at(-1)! / 1000)}k) over ${rounds} rounds`,
)

const ref = spawnSync('mariadb-binlog', ['--version'], { encoding: 'utf8' })
if (ref.status === 0) {
  const times: number[] = []
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint()
    spawnSync('mariadb-binlog', ['-v', '--base64-output=DECODE-ROWS', path], {
      stdio: 'ignore',
      maxBuffer: 1 << 30,
    })
    times.push(Number(process.hrtime.bigint() - t0) / 1e9)
  }
  times.sort((a, b) => a - b)
  const t = times[2]!
  console.log(
    `mariadb-binlog -v (process incl. startup, text output): median ${(t * 1000).toFixed(0)} ms = ` +
      `${Math.round(rowsPerPass / t / 1000)}k row changes/s`,
  )
}
