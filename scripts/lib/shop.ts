/**
 * A small shop (customers, orders) and a writer that keeps changing it, in Postgres and
 * MySQL/MariaDB: the sample workload of `npm run demo` and of the docker-compose `load`
 * profile (docker/loadgen.ts).
 */
import mysql from 'mysql2/promise'
import pg from 'pg'

/** One shop database: the statements differ only in placeholders and a few functions. */
export interface ShopDb {
  readonly dialect: 'postgres' | 'mysql'
  /** Runs one statement with `?` placeholders; result rows, or [] for non-queries. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  /** Runs `fn` in one transaction (committed when it resolves, rolled back when it throws). */
  transaction(fn: (q: ShopDb['query']) => Promise<void>): Promise<void>
  close(): Promise<void>
}

/** `?` placeholders to Postgres' `$1, $2, ...`. */
function numbered(sql: string): string {
  let i = 0
  return sql.replace(/\?/g, () => `$${++i}`)
}

/** A shop database on Postgres (a pool of two connections). */
export function postgresShop(url: string): ShopDb {
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  // A pooled connection that the server drops would otherwise crash the process.
  pool.on('error', () => {})
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> =>
    (await pool.query(numbered(sql), params)).rows as T[]
  return {
    dialect: 'postgres',
    query,
    async transaction(fn) {
      const c = await pool.connect()
      try {
        await c.query('BEGIN')
        await fn(
          async <T>(sql: string, params: unknown[] = []) =>
            (await c.query(numbered(sql), params)).rows as T[],
        )
        await c.query('COMMIT')
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {})
        throw err
      } finally {
        c.release()
      }
    },
    close: () => pool.end(),
  }
}

/** A shop database on MySQL or MariaDB (a pool of two connections). */
export function mysqlShop(url: string): ShopDb {
  const pool = mysql.createPool({ uri: url, connectionLimit: 2 })
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => {
    const [rows] = await pool.query(sql, params)
    return Array.isArray(rows) ? (rows as T[]) : []
  }
  return {
    dialect: 'mysql',
    query,
    async transaction(fn) {
      const c = await pool.getConnection()
      try {
        await c.beginTransaction()
        await fn(async <T>(sql: string, params: unknown[] = []) => {
          const [rows] = await c.query(sql, params)
          return Array.isArray(rows) ? (rows as T[]) : []
        })
        await c.commit()
      } catch (err) {
        await c.rollback().catch(() => {})
        throw err
      } finally {
        c.release()
      }
    },
    close: () => pool.end(),
  }
}

/** The shop's tables in each dialect (the same columns docker/*\/10-shop.sql create). */
export const SHOP_DDL: Readonly<Record<ShopDb['dialect'], readonly string[]>> = {
  postgres: [
    `CREATE TABLE customers (
       id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE TABLE orders (
       id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id),
       status text NOT NULL DEFAULT 'new', total numeric(10, 2) NOT NULL,
       updated_at timestamptz NOT NULL DEFAULT now())`,
    // Old row images on updates and deletes, so `before` is filled in change events.
    'ALTER TABLE customers REPLICA IDENTITY FULL',
    'ALTER TABLE orders REPLICA IDENTITY FULL',
  ],
  mysql: [
    `CREATE TABLE customers (
       id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, name VARCHAR(255) NOT NULL,
       created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))`,
    `CREATE TABLE orders (
       id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL,
       status VARCHAR(20) NOT NULL DEFAULT 'new', total DECIMAL(10, 2) NOT NULL,
       updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
       FOREIGN KEY (customer_id) REFERENCES customers (id))`,
  ],
}

/** Creates the shop's tables and a few customers and orders. */
export async function createShop(db: ShopDb, customers = 10): Promise<void> {
  for (const ddl of SHOP_DDL[db.dialect]) await db.query(ddl)
  for (let i = 0; i < customers; i++) await addCustomer(db.query)
  for (let i = 0; i < customers * 2; i++) await addOrder(db)
}

const NAMES = ['Ada', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Alan', 'Frances', 'Ken', 'Radia']
const STATUSES = ['paid', 'packed', 'shipped', 'delivered', 'returned']
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!
let serial = 0

async function addCustomer(q: ShopDb['query']): Promise<void> {
  const name = pick(NAMES)
  const email = `${name.toLowerCase()}.${Date.now().toString(36)}${(serial++).toString(36)}@example.com`
  await q('INSERT INTO customers (email, name) VALUES (?, ?)', [email, name])
}

/** The id of a random row (the tables stay small enough for ORDER BY random). */
async function randomId(db: ShopDb, table: 'customers' | 'orders'): Promise<number | null> {
  const random = db.dialect === 'postgres' ? 'random()' : 'RAND()'
  const rows = await db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY ${random} LIMIT 1`)
  return rows[0]?.id ?? null
}

async function addOrder(db: ShopDb): Promise<void> {
  const q = db.query
  const customer = await randomId(db, 'customers')
  if (customer === null) return addCustomer(q)
  const total = (1 + Math.random() * 199).toFixed(2)
  await q('INSERT INTO orders (customer_id, total) VALUES (?, ?)', [customer, total])
}

/** What one step of the writer did, e.g. `update orders`. */
export type ShopChange =
  | 'insert customers'
  | 'update customers'
  | 'delete customers'
  | 'insert orders'
  | 'update orders'
  | 'delete orders'

/**
 * One random change: mostly new and updated orders, some new, renamed and deleted
 * customers. Deleting a customer deletes their orders first, explicitly and in the same
 * transaction (MySQL does not write foreign-key cascades to the binlog).
 */
export async function shopStep(db: ShopDb): Promise<ShopChange> {
  const q = db.query
  const roll = Math.random()
  if (roll < 0.3) {
    await addOrder(db)
    return 'insert orders'
  }
  if (roll < 0.55) {
    const id = await randomId(db, 'orders')
    if (id === null) return shopInsertCustomer(db)
    const ts = db.dialect === 'postgres' ? ', updated_at = now()' : ''
    await q(`UPDATE orders SET status = ?, total = total + 1${ts} WHERE id = ?`, [pick(STATUSES), id])
    return 'update orders'
  }
  if (roll < 0.7) return shopInsertCustomer(db)
  if (roll < 0.8) {
    const id = await randomId(db, 'customers')
    if (id === null) return shopInsertCustomer(db)
    await q('UPDATE customers SET name = ? WHERE id = ?', [pick(NAMES), id])
    return 'update customers'
  }
  if (roll < 0.92) {
    const id = await randomId(db, 'orders')
    if (id === null) return shopInsertCustomer(db)
    await q('DELETE FROM orders WHERE id = ?', [id])
    return 'delete orders'
  }
  const id = await randomId(db, 'customers')
  if (id === null) return shopInsertCustomer(db)
  await db.transaction(async (tq) => {
    await tq('DELETE FROM orders WHERE customer_id = ?', [id])
    await tq('DELETE FROM customers WHERE id = ?', [id])
  })
  return 'delete customers'
}

async function shopInsertCustomer(db: ShopDb): Promise<ShopChange> {
  await addCustomer(db.query)
  return 'insert customers'
}

/**
 * Runs shopStep() on every database every `intervalMs` until `signal` aborts; a failed
 * step is reported to `onError` and the writer goes on (a database may restart).
 */
export async function runShopLoad(
  dbs: readonly ShopDb[],
  opts: { intervalMs: number; signal: AbortSignal; onError?: (db: ShopDb, err: unknown) => void },
): Promise<number> {
  let steps = 0
  while (!opts.signal.aborted) {
    await Promise.all(
      dbs.map(async (db) => {
        try {
          await shopStep(db)
          steps++
        } catch (err) {
          opts.onError?.(db, err)
        }
      }),
    )
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, opts.intervalMs)
      function done(): void {
        clearTimeout(t)
        opts.signal.removeEventListener('abort', done)
        resolve()
      }
      opts.signal.addEventListener('abort', done, { once: true })
    })
  }
  return steps
}
