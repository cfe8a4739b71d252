// A real redis-server for tests: its own free loopback port, a temp folder, no persistence; stopped
// (and killable, pausable) by the test. Never skipped: a machine without redis-server fails here,
// naming the package (.ci/run installs it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestRedis {
  readonly port: number
  readonly url: string
  readonly pid: number
  /** Sends one command in RESP and returns the raw reply (for assertions on keys). */
  command (...args: string[]): Promise<string>
  /** SIGKILL: the server dies as a crashed one does. */
  kill (): Promise<void>
  /** SIGSTOP / SIGCONT: the server stops answering but keeps its connections. */
  pause (): void
  resume (): void
  stop (): Promise<void>
}

function redisBinary (): string {
  const r = spawnSync('sh', ['-c', 'command -v redis-server || ls /usr/bin/redis-server /usr/sbin/redis-server 2>/dev/null'], { encoding: 'utf8' })
  const bin = r.stdout.split('\n').find((l) => l.trim() !== '')?.trim()
  if (bin === undefined) throw new Error('redis-server is not installed: the rate-limit tests need a real one (Debian package redis-server; .ci/run installs it)')
  return bin
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** One RESP command over a fresh connection. */
async function send (port: number, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let out = ''
    socket.setTimeout(2000, () => { socket.destroy(); reject(new Error('redis did not answer in 2 s')) })
    socket.on('error', reject)
    socket.on('data', (d: Buffer) => {
      out += d.toString('utf8')
      if (out.endsWith('\r\n')) { socket.end(); resolve(out) }
    })
    socket.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''))
  })
}

export async function startRedis (): Promise<TestRedis> {
  const bin = redisBinary()
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-redis-'))
  const port = await freePort()
  const child: ChildProcess = spawn(bin, [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${output}`)
    try {
      if ((await send(port, ['PING'])).startsWith('+PONG')) break
    } catch {
      if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`redis-server did not answer on ${port}: ${output}`) }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const pid = child.pid as number
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid,
    command: async (...args) => await send(port, args),
    async kill () {
      if (!gone()) { child.kill('SIGKILL'); await exited }
    },
    pause () { child.kill('SIGSTOP') },
    resume () { child.kill('SIGCONT') },
    async stop () {
      if (!gone()) {
        child.kill('SIGCONT')
        child.kill('SIGKILL')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
