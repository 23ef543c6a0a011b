/**
 * Load generator of the docker-compose `load` profile: keeps inserting, updating and
 * deleting customers and orders in both databases (scripts/lib/shop.ts), so changes flow
 * through Sluice on their own. Settings from the environment: PG_URL, MYSQL_URL (either may
 * be left out), LOAD_INTERVAL_MS (default 500). Stops on SIGINT/SIGTERM.
 */
import { mysqlShop, postgresShop, runShopLoad, type ShopDb } from '../scripts/lib/shop.js'

const intervalMs = Number(process.env.LOAD_INTERVAL_MS ?? '500')
if (!Number.isFinite(intervalMs) || intervalMs < 0) {
  process.stderr.write(
    `loadgen: LOAD_INTERVAL_MS must be a number of milliseconds, got '${process.env.LOAD_INTERVAL_MS}'\n`,
  )
  process.exit(2)
}
const dbs: ShopDb[] = []
if (process.env.PG_URL) dbs.push(postgresShop(process.env.PG_URL))
if (process.env.MYSQL_URL) dbs.push(mysqlShop(process.env.MYSQL_URL))
if (dbs.length === 0) {
  process.stderr.write('loadgen: set PG_URL and/or MYSQL_URL to the shop databases\n')
  process.exit(2)
}

const stop = new AbortController()
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stop.abort())
process.stdout.write(
  `loadgen: writing to ${dbs.map((d) => d.dialect).join(' and ')} every ${intervalMs} ms\n`,
)
let lastError = 0
const steps = await runShopLoad(dbs, {
  intervalMs,
  signal: stop.signal,
  onError: (db, err) => {
    // One line per 10 s at most: a database that is restarting fails every step.
    if (Date.now() - lastError < 10_000) return
    lastError = Date.now()
    process.stderr.write(`loadgen: ${db.dialect} step failed: ${(err as Error).message}\n`)
  },
})
await Promise.all(dbs.map((d) => d.close()))
process.stdout.write(`loadgen: stopped after ${steps} changes\n`)
