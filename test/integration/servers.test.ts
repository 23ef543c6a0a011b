import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startPostgres } from './servers/postgres.js'

test('throwaway postgres runs with wal_level=logical', async () => {
  const pg = await startPostgres()
  try {
    const rows = await pg.sql<{ wal_level: string }>('show wal_level')
    assert.equal(rows[0]?.wal_level, 'logical')
  } finally {
    await pg.stop()
  }
})
