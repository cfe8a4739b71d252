// Child processes of the bench: every server under test and the load generator run in their own
// process, so none shares an event loop with another. Ports are chosen here, before a child starts,
// and a child is ready once its port answers.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, connect, type AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Proc {
  name: string
  child: ChildProcess
  pid: number
  /** Resolves once the child has exited. */
  exited: Promise<void>
  stop (): Promise<void>
}

/** A free loopback port (bound to 0, read back, closed). */
export async function freePort (): Promise<number> {
  return (await freePorts(1))[0]
}

/** `n` distinct free loopback ports: all are held open until every one is known, then closed. */
export async function freePorts (n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, async () => await new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => resolve(s))
  })))
  const ports = servers.map((s) => (s.address() as AddressInfo).port)
  await Promise.all(servers.map(async (s) => await new Promise((resolve) => s.close(resolve))))
  return ports
}

export interface StartOptions {
  name: string
  /** The program (default: this Node binary). */
  command?: string
  args: string[]
  env?: NodeJS.ProcessEnv
  /** File descriptor (or 'ignore') for the child's stdout: the gateway's access log goes there. */
  stdout?: number | 'ignore' | 'inherit'
  cwd?: string
}

export function start (opts: StartOptions): Proc {
  const child = spawn(opts.command ?? process.execPath, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', opts.stdout ?? 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 8192) stderr += d.toString('utf8') })
  const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    if (code !== 0 && code !== null && signal === null) process.stderr.write(`bench: ${opts.name} exited with ${code}\n${stderr}`)
    resolve()
  }))
  if (child.pid === undefined) throw new Error(`cannot start ${opts.name}`)
  const pid = child.pid
  return {
    name: opts.name,
    child,
    pid,
    exited,
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const killed = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])
      if (!killed) {
        child.kill('SIGKILL')
        await exited
      }
    }
  }
}

/**
 * A redis-server of the bench's own (Debian package redis-server) on a free loopback port, without
 * persistence; undefined, with a line on stderr, when the machine has none.
 */
export async function startRedisServer (dir: string): Promise<{ proc: Proc, url: string } | undefined> {
  const bin = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/usr/sbin/redis-server'].find((p) => existsSync(p))
  if (bin === undefined) {
    process.stderr.write('bench: redis-server is not installed (apt-get install redis-server): the Redis rate-limit row is left out\n')
    return undefined
  }
  const port = await freePort()
  const proc = start({ name: 'redis-server', command: bin, args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'] })
  await waitForPort(proc, port)
  return { proc, url: `redis://127.0.0.1:${port}` }
}

/** Waits until something accepts TCP connections on the port (or the child dies, or 30 s pass). */
export async function waitForPort (proc: Proc, port: number): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited before listening`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(100)
  }
  throw new Error(`${proc.name} did not listen on ${port} within 30 s`)
}

/** Resident set size of a process in bytes (Linux /proc; `ps` elsewhere). */
export async function rssOf (pid: number): Promise<number> {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    if (m !== null) return Number(m[1]) * 1024
  } catch { /* not Linux: fall through */ }
  const out = await new Promise<string>((resolve) => {
    const ps = spawn('ps', ['-o', 'rss=', '-p', String(pid)], { stdio: ['ignore', 'pipe', 'ignore'] })
    let s = ''
    ps.stdout.on('data', (d: Buffer) => { s += d.toString() })
    ps.once('close', () => resolve(s))
  })
  return Number(out.trim()) * 1024
}

/** CPU time (user + system, ms) a process has used so far (Linux /proc; NaN elsewhere). */
export function cpuMsOf (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of stat: 12 and 13 after the "(comm)" cut.
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return NaN
  }
}
