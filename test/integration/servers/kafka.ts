import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSync, closeSync } from 'node:fs'

/** A Kafka cluster for tests: librdkafka's mock cluster, or a real one from KAFKA_BROKERS. */
export interface KafkaServer {
  /** Bootstrap `host:port` list. */
  readonly brokers: string[]
  /** Whether this is librdkafka's mock cluster (no CreateTopics, 4 partitions per auto-created topic). */
  readonly mock: boolean
  stop(): Promise<void>
}

const BOOTSTRAP = /bootstrap\.servers=(\S+)/

/**
 * Starts librdkafka's mock cluster through kcat (a consumer of a throwaway topic keeps it
 * alive) and reads the brokers' addresses from its debug log. With KAFKA_BROKERS set, uses
 * that cluster instead and stop() does nothing.
 */
export async function startKafka(brokers = 3): Promise<KafkaServer> {
  const real = process.env.KAFKA_BROKERS
  if (real) return { brokers: real.split(','), mock: false, stop: async () => {} }
  const dir = mkdtempSync(join(tmpdir(), 'sluice-kafka-'))
  const log = join(dir, 'kcat.log')
  const fd = openSync(log, 'w')
  const child: ChildProcess = spawn(
    'kcat',
    ['-C', '-X', `test.mock.num.brokers=${brokers}`, '-d', 'mock', '-b', 'x:1', '-t', 'keepalive', '-q'],
    { stdio: ['ignore', 'ignore', fd] },
  )
  closeSync(fd)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(t)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10_000
  for (;;) {
    const m = BOOTSTRAP.exec(readFileSync(log, 'utf8'))
    if (m) return { brokers: m[1]!.split(','), mock: true, stop }
    if (child.exitCode !== null || Date.now() > deadline) {
      const text = readFileSync(log, 'utf8').slice(-2000)
      await stop()
      throw new Error(`kcat mock cluster did not start (is kcat installed?):\n${text}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A TCP proxy in front of a cluster, which can be cut (connections refused) and restored. */
export interface KafkaProxy {
  /** Bootstrap list that goes through the proxy. */
  readonly brokers: string[]
  /** Resets every open connection and refuses new ones. */
  cut(): Promise<void>
  /** Accepts connections again, on the same ports. */
  restore(): Promise<void>
  stop(): Promise<void>
}

/** Kafka API key of Metadata; its response lists the brokers' addresses. */
const API_METADATA = 3

/**
 * Starts a proxy for every broker of the cluster. Clients learn broker addresses from
 * Metadata responses, so the proxy rewrites those (non-flexible versions 0-8, what kafkajs
 * uses): each broker's host and port become the proxy's listener for it, created on first
 * sight. Requests and all other responses pass through unchanged.
 */
export async function startKafkaProxy(upstream: string[]): Promise<KafkaProxy> {
  const net = await import('node:net')
  const listeners = new Map<string, { port: number; server: import('node:net').Server | null }>()
  const sockets = new Set<import('node:net').Socket>()
  let down = false

  const listen = (target: string, port: number): Promise<import('node:net').Server> =>
    new Promise((resolve, reject) => {
      const server = net.createServer((client) => pipe(client, target))
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve(server))
    })

  const listenerFor = async (target: string): Promise<number> => {
    let l = listeners.get(target)
    if (!l) {
      const server = await listen(target, 0)
      l = { port: (server.address() as import('node:net').AddressInfo).port, server: down ? null : server }
      if (down) server.close()
      listeners.set(target, l)
    }
    return l.port
  }

  const rewriteMetadata = async (frame: Buffer, version: number): Promise<Buffer> => {
    let p = 4 + 4 // size, correlation id
    if (version >= 3) p += 4 // throttle_time_ms
    const n = frame.readInt32BE(p)
    const head = frame.subarray(4, p + 4)
    p += 4
    const brokers: Buffer[] = []
    for (let i = 0; i < n; i++) {
      const nodeId = frame.readInt32BE(p)
      const hostLen = frame.readInt16BE(p + 4)
      const host = frame.toString('utf8', p + 6, p + 6 + hostLen)
      p += 6 + hostLen
      const port = frame.readInt32BE(p)
      p += 4
      let rack: Buffer = Buffer.alloc(0)
      if (version >= 1) {
        const len = frame.readInt16BE(p)
        const end = p + 2 + Math.max(0, len)
        rack = frame.subarray(p, end)
        p = end
      }
      const local = await listenerFor(`${host}:${port}`)
      const h = Buffer.from('127.0.0.1')
      const b = Buffer.alloc(4 + 2 + h.length + 4)
      b.writeInt32BE(nodeId, 0)
      b.writeInt16BE(h.length, 4)
      h.copy(b, 6)
      b.writeInt32BE(local, 6 + h.length)
      brokers.push(b, rack)
    }
    const body = Buffer.concat([head, ...brokers, frame.subarray(p)])
    const size = Buffer.alloc(4)
    size.writeInt32BE(body.length)
    return Buffer.concat([size, body])
  }

  const pipe = (client: import('node:net').Socket, target: string): void => {
    const [host, port] = [
      target.slice(0, target.lastIndexOf(':')),
      Number(target.slice(target.lastIndexOf(':') + 1)),
    ]
    const server = net.connect(port, host)
    sockets.add(client)
    sockets.add(server)
    const pending = new Map<number, { key: number; version: number }>()
    const close = (): void => {
      client.destroy()
      server.destroy()
      sockets.delete(client)
      sockets.delete(server)
    }
    client.on('error', close).on('close', close)
    server.on('error', close).on('close', close)
    let reqBuf = Buffer.alloc(0)
    client.on('data', (d: Buffer) => {
      reqBuf = Buffer.concat([reqBuf, d])
      while (reqBuf.length >= 4 && reqBuf.length >= 4 + reqBuf.readInt32BE(0)) {
        const len = 4 + reqBuf.readInt32BE(0)
        pending.set(reqBuf.readInt32BE(8), { key: reqBuf.readInt16BE(4), version: reqBuf.readInt16BE(6) })
        reqBuf = reqBuf.subarray(len)
      }
      server.write(d)
    })
    let resBuf = Buffer.alloc(0)
    let chain = Promise.resolve()
    server.on('data', (d: Buffer) => {
      resBuf = Buffer.concat([resBuf, d])
      const frames: Buffer[] = []
      while (resBuf.length >= 4 && resBuf.length >= 4 + resBuf.readInt32BE(0)) {
        const len = 4 + resBuf.readInt32BE(0)
        frames.push(resBuf.subarray(0, len))
        resBuf = resBuf.subarray(len)
      }
      chain = chain
        .then(async () => {
          for (const f of frames) {
            const req = pending.get(f.readInt32BE(4))
            pending.delete(f.readInt32BE(4))
            const out =
              req?.key === API_METADATA && req.version <= 8 ? await rewriteMetadata(f, req.version) : f
            if (!client.destroyed) client.write(out)
          }
        })
        .catch(close)
    })
  }

  const bootstrap: string[] = []
  for (const b of upstream) bootstrap.push(`127.0.0.1:${await listenerFor(b)}`)
  const proxy: KafkaProxy = {
    brokers: bootstrap,
    async cut() {
      down = true
      for (const s of sockets) s.destroy()
      sockets.clear()
      await Promise.all(
        [...listeners.values()].map(
          (l) => new Promise<void>((resolve) => (l.server ? l.server.close(() => resolve()) : resolve())),
        ),
      )
      for (const l of listeners.values()) l.server = null
    },
    async restore() {
      down = false
      for (const [target, l] of listeners) if (!l.server) l.server = await listen(target, l.port)
    },
    stop: () => proxy.cut(),
  }
  return proxy
}
