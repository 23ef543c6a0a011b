/**
 * A TCP proxy for fault injection: Sluice connects to the proxy, the proxy to the real
 * server. Tests cut every connection (and refuse new ones while cut), restore service,
 * or delay traffic, without touching the server itself.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface FaultProxy {
  /** The loopback port clients connect to. */
  readonly port: number
  /** Connections accepted so far (each client connection counts once). */
  readonly accepted: number
  /** Destroys every open connection and refuses new ones until restore(). */
  cut(): void
  /** Accepts connections again. */
  restore(): void
  /** Holds each chunk for `ms` in both directions (0: no delay). */
  delay(ms: number): void
  stop(): Promise<void>
}

export async function startProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  const open = new Set<Socket>()
  let down = false
  let delayMs = 0
  let accepted = 0

  const pipe = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      if (delayMs === 0) {
        if (!to.write(chunk)) from.pause()
        return
      }
      from.pause()
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk)
        if (!from.destroyed) from.resume()
      }, delayMs)
    })
    to.on('drain', () => from.resume())
  }

  const server: Server = createServer((client) => {
    if (down) {
      client.destroy()
      return
    }
    accepted++
    const upstream = connect(targetPort, targetHost)
    open.add(client)
    open.add(upstream)
    const close = (): void => {
      client.destroy()
      upstream.destroy()
      open.delete(client)
      open.delete(upstream)
    }
    client.on('error', close).on('close', close)
    upstream.on('error', close).on('close', close)
    pipe(client, upstream)
    pipe(upstream, client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port

  return {
    port,
    get accepted() {
      return accepted
    },
    cut() {
      down = true
      for (const s of open) s.destroy()
      open.clear()
    },
    restore() {
      down = false
    },
    delay(ms: number) {
      delayMs = ms
    },
    async stop() {
      down = true
      for (const s of open) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
