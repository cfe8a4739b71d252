// Helpers for the operations suite: read /metrics, run the real binary and follow its JSON log lines.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { stringify } from 'yaml'
import { BIN } from '../helpers/root.js'
import { writePki } from '../helpers/pki.js'

/** A folder with the test PKI and the path of the config the binary will read. */
export interface ServeSetup { dir: string, file: string, cert: string, key: string }

export function serveSetup (): ServeSetup {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-ops-'))
  const pki = writePki(dir)
  return { dir, file: join(dir, 'tollgate.yaml'), cert: pki.cert, key: pki.key }
}

/** Writes the config: HTTPS and plain (httpOption enabled) and admin on loopback port 0, `server` merged over. */
export function writeServeConfig (s: ServeSetup, containers: Record<string, unknown>, server: Record<string, unknown> = {}): string {
  writeFileSync(s.file, stringify({
    server: {
      listen: { https: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } },
      tls: { cert: s.cert, key: s.key },
      httpOption: 'enabled',
      admin: { host: '127.0.0.1', port: 0 },
      ...server
    },
    containers
  }))
  return s.file
}

/** One Prometheus scrape: `name{a="x",b="y"}` (labels sorted) → value. */
export type Samples = Map<string, number>

export async function scrape (adminUrl: string): Promise<Samples> {
  const res = await request(adminUrl + '/metrics')
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}: ${text}`)
  return parseExposition(text)
}

export function parseExposition (text: string): Samples {
  const out: Samples = new Map()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2]
    const key = seriesKey(m[1], labels)
    if (out.has(key)) throw new Error(`duplicate series ${key}`)
    out.set(key, Number(m[3]))
  }
  return out
}

export function seriesKey (name: string, labels: Record<string, string> = {}): string {
  const keys = Object.keys(labels).sort()
  return keys.length === 0 ? name : `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}`
}

/** The value of one series; undefined when the scrape does not have it. */
export function value (s: Samples, name: string, labels: Record<string, string> = {}): number | undefined {
  return s.get(seriesKey(name, labels))
}

/** Sum over every series of `name` whose labels include `match`. */
export function total (s: Samples, name: string, match: Record<string, string> = {}): number {
  let sum = 0
  for (const [key, v] of s) {
    if (key !== name && !key.startsWith(name + '{')) continue
    if (Object.entries(match).every(([k, val]) => key.includes(`${k}="${val}"`))) sum += v
  }
  return sum
}

/** Retries `fn` until it stops throwing (observers run when a response finishes, a hair after the client saw it). */
export async function eventually<T> (fn: () => Promise<T> | T, timeoutMs = 3000): Promise<T> {
  const start = Date.now()
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() - start > timeoutMs) throw err
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

export interface Served {
  child: ChildProcess
  /** Every JSON line the process (and its workers) wrote to stdout so far. */
  lines: Array<Record<string, any>>
  /** Raw stdout text (to scan for secrets). */
  stdout (): string
  stderr (): string
  /** Resolves with the first line (from now on or already seen) matching `pred`. */
  waitFor (pred: (l: Record<string, any>) => boolean, timeoutMs?: number, what?: string): Promise<Record<string, any>>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  kill (signal?: NodeJS.Signals): void
}

/** Runs `node bin/tollgate.js ARGS` (the compiled CLI). */
export function runTollgate (args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string, bin = BIN): Served {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd })
  const lines: Array<Record<string, any>> = []
  let out = ''
  let err = ''
  let partial = ''
  const watchers: Array<{ pred: (l: Record<string, any>) => boolean, resolve: (l: Record<string, any>) => void }> = []
  child.stdout?.on('data', (d: Buffer) => {
    const s = d.toString('utf8')
    out += s
    partial += s
    const parts = partial.split('\n')
    partial = parts.pop() ?? ''
    for (const p of parts) {
      if (p === '') continue
      let l: Record<string, any>
      try { l = JSON.parse(p) } catch { l = { raw: p } }
      lines.push(l)
      for (const w of [...watchers]) {
        if (w.pred(l)) {
          watchers.splice(watchers.indexOf(w), 1)
          w.resolve(l)
        }
      }
    }
  })
  child.stderr?.on('data', (d: Buffer) => { err += d.toString('utf8') })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  return {
    child,
    lines,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill (signal = 'SIGTERM') { if (child.exitCode === null && child.signalCode === null) child.kill(signal) },
    waitFor (pred, timeoutMs = 15_000, what = 'a log line') {
      const seen = lines.find(pred)
      if (seen !== undefined) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr: ${err.slice(0, 500)}; last lines: ${JSON.stringify(lines.slice(-5))}`)), timeoutMs)
        const w = { pred, resolve: (l: Record<string, any>) => { clearTimeout(timer); resolve(l) } }
        watchers.push(w)
        exited.then(() => { if (watchers.includes(w)) { clearTimeout(timer); reject(new Error(`tollgate exited while waiting for ${what}; stderr: ${err.slice(0, 500)}`)) } }, () => {})
      })
    }
  }
}

export const msg = (m: string) => (l: Record<string, any>): boolean => l.msg === m
