/**
 * pgoutput decode throughput on one core: insert and update messages taken from the captured
 * fixtures, decoded over and over from the same buffer (as the replication stream reuses
 * its buffer). Cases are interleaved round by round, because this machine's speed drifts,
 * and the median round is reported. The reference row is pg-logical-replication's parser
 * on the same bytes; it also converts values to JS types, so it does more work.
 *
 *   npx tsx bench/pgoutput-decode.bench.ts [rounds=7] [messagesPerRound=1000000]
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { PgoutputParser } from 'pg-logical-replication/dist/output-plugins/pgoutput/pgoutput-parser.js'
import { decodePgoutput, type PgoutputMessage } from '../connectors/postgres/pgoutput/index.js'

const rounds = Number(process.argv[2] ?? 7)
const perRound = Number(process.argv[3] ?? 1_000_000)

interface FixtureMessage {
  description: string
  hex: string
}
const fixture = (name: string): FixtureMessage[] =>
  (
    JSON.parse(readFileSync(new URL(`../test/fixtures/pgoutput/${name}.json`, import.meta.url), 'utf8')) as {
      messages: FixtureMessage[]
    }
  ).messages

/** The first message of a fixture whose description starts with `prefix`, as bytes. */
function pick(messages: FixtureMessage[], prefix: string): Buffer {
  const m = messages.find((x) => x.description.startsWith(prefix))
  if (!m) throw new Error(`no '${prefix}' message in fixture`)
  return Buffer.from(m.hex, 'hex')
}

const basic = fixture('v1_basic')
const streamed = fixture('v2_streaming')
const relationItems = pick(basic, 'relation public.items')

interface Case {
  name: string
  buf: Buffer
  run: (buf: Buffer, n: number) => number
}

/** Returns a value depending on every decoded message so the loop cannot be optimised away. */
const sluice =
  (streaming: boolean) =>
  (buf: Buffer, n: number): number => {
    const opts = { streaming }
    let acc = 0
    for (let i = 0; i < n; i++) {
      const m: PgoutputMessage = decodePgoutput(buf, opts)
      if (m.tag === 'insert' || m.tag === 'update') acc += m.tuple.length + m.bytes
    }
    return acc
  }

const reference = (buf: Buffer, n: number): number => {
  const parser = new PgoutputParser()
  parser.parse(relationItems)
  let acc = 0
  for (let i = 0; i < n; i++) {
    const m = parser.parse(buf) as { new?: Record<string, unknown> }
    if (m.new) acc++
  }
  return acc
}

const cases: Case[] = [
  {
    name: 'insert, 5 columns (v1)',
    buf: pick(basic, 'insert into public.items [text,text,text,text,text]'),
    run: sluice(false),
  },
  { name: 'update, 5 columns (v1)', buf: pick(basic, 'update public.items new'), run: sluice(false) },
  {
    name: 'update with old key, 5 columns (v1)',
    buf: pick(basic, 'update public.items key'),
    run: sluice(false),
  },
  {
    name: 'insert, 3 columns, in stream (v2)',
    buf: pick(streamed, 'insert into public.bulk'),
    run: sluice(true),
  },
  {
    name: 'reference: pg-logical-replication insert, 5 columns',
    buf: pick(basic, 'insert into public.items [text,text,text,text,text]'),
    run: reference,
  },
]

const rates = new Map<string, number[]>(cases.map((c) => [c.name, []]))
let sink = 0
for (const c of cases) sink += c.run(c.buf, 200_000) // warm up
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const t0 = process.hrtime.bigint()
    sink += c.run(c.buf, perRound)
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    rates.get(c.name)!.push(perRound / s)
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
let commit = 'unknown'
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
} catch {
  // not a git checkout
}
console.log(`pgoutput decode, node ${process.version}, ${cpus()[0]?.model ?? 'cpu?'}, commit ${commit}`)
console.log(`${rounds} rounds × ${perRound} messages, median (min–max) messages/s`)
for (const c of cases) {
  const xs = rates.get(c.name)!
  const fmt = (x: number): string => `${(x / 1e6).toFixed(2)}M`
  console.log(
    `  ${c.name.padEnd(52)} ${fmt(median(xs)).padStart(7)}  (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})  ${c.buf.length} bytes`,
  )
}
if (sink === 0) console.log('(no messages decoded)')
