// docs/fastify.md's complete example runs as written: its tollgate.yaml and app.mjs (copied byte for
// byte into a folder of this checkout, where `tollgate/fastify` resolves through the package's
// exports as it does for an app that installed tollgate), its setup lines (the real CLI), the app
// as its own process, and each of its curl lines' calls with the answer its comment promises. Then
// SIGTERM: the app closes and the process ends by itself.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { ROOT, BIN } from '../helpers/root.js'
import { freePort, startUpstream } from '../helpers/upstream.js'
import { registerSecretValue } from '../helpers/gateway.js'
import { KEY_PATTERN } from '../../src/credentials/index.js'

interface Block { lang: string, text: string }

function exampleBlocks (): Block[] {
  const doc = readFileSync(join(ROOT, 'docs', 'fastify.md'), 'utf8')
  const start = doc.indexOf('\n## A complete example\n')
  assert.ok(start >= 0, 'docs/fastify.md has its complete example')
  const section = doc.slice(start, doc.indexOf('\n## ', start + 1))
  return [...section.matchAll(/```(\w+)\n([^]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }))
}

function block (blocks: Block[], lang: string, has: string): string {
  const b = blocks.find((x) => x.lang === lang && x.text.includes(has))
  assert.ok(b !== undefined, `the example has a ${lang} block with ${has}`)
  return b.text
}

test('docs/fastify.md: the complete example runs as written', { timeout: 120_000 }, async () => {
  const blocks = exampleBlocks()
  const yaml = block(blocks, 'yaml', '# tollgate.yaml')
  const app = block(blocks, 'js', '// app.mjs')
  const setup = block(blocks, 'sh', 'npx tollgate secrets set')
  const run = block(blocks, 'sh', 'node app.mjs')

  const containerToken = 'hello-iam-key-' + Math.random().toString(36).slice(2)
  registerSecretValue(containerToken)
  const up = await startUpstream({
    tls: false,
    handler: (req, res) => {
      const ok = req.headers['x-auth-token'] === containerToken
      res.writeHead(ok ? 200 : 403, { 'content-type': 'text/plain' })
      res.end(ok ? `hello from ${req.url}` : 'forbidden')
    }
  })
  const dir = join(ROOT, 'dist', `docs-example-${process.pid}-${Date.now()}`)
  mkdirSync(dir, { recursive: true })
  try {
    writeFileSync(join(dir, 'tollgate.yaml'), yaml)
    writeFileSync(join(dir, 'app.mjs'), app)

    // The setup lines, then what the test needs back from them (the master key and the key made).
    const script = [
      'set -eu',
      `npx () { if [ "$1" = tollgate ]; then shift; "${process.execPath}" "${BIN}" "$@"; else command npx "$@"; fi; }`,
      setup,
      'printf "%s\\n%s\\n" "$TOLLGATE_MASTER_KEY" "$KEY"'
    ].join('\n')
    const s = spawnSync('sh', ['-c', script], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME, HELLO_CONTAINER_TOKEN: containerToken } })
    assert.equal(s.status, 0, `setup: ${s.stderr}`)
    const [masterKey, key] = s.stdout.trimEnd().split('\n').slice(-2)
    registerSecretValue(key)
    assert.match(key, KEY_PATTERN)

    // The run line, with the setup's environment (the upstream a local one), the port chosen free (the example reads PORT).
    const runLine = run.split('\n').find((l) => l.includes('node app.mjs'))!
    assert.equal(runLine, 'node app.mjs &')
    const port = await freePort()
    const child = spawn(process.execPath, ['app.mjs'], {
      cwd: dir,
      env: { PATH: process.env.PATH, TOLLGATE_MASTER_KEY: masterKey, HELLO_UPSTREAM: up.url.replace('localhost', '127.0.0.1'), PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8') })
    child.stderr.on('data', (d: Buffer) => { err += d.toString('utf8') })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    try {
      for (let i = 0; i < 200 && !out.includes('Server listening'); i++) await new Promise((resolve) => setTimeout(resolve, 50))
      assert.ok(out.includes('Server listening'), `the app listens: ${err}`)

      // Each curl line: its method, its X-Auth-Token header, its path, and the status its comment names.
      const calls = run.split('\n').filter((l) => l.startsWith('curl '))
      assert.equal(calls.length, 3)
      for (const line of calls) {
        const url = /http:\/\/localhost:3000(\S*)/.exec(line)![1]
        const method = /-X (\w+)/.exec(line)?.[1] ?? 'GET'
        const headers: Record<string, string> = line.includes('-H "X-Auth-Token: $KEY"') ? { 'x-auth-token': key } : {}
        const want = /# (\d{3})(?: (\{.*\}))?/.exec(line)!
        const r = await request(`http://127.0.0.1:${port}${url}`, { method: method as 'GET', headers })
        const body = await r.body.text()
        assert.equal(r.statusCode, Number(want[1]), `${line}\n${body}`)
        if (want[2] !== undefined) {
          const promised = JSON.parse(want[2].replace(/,…\}$/, '}')) as Record<string, string>
          const got = JSON.parse(body) as Record<string, string>
          for (const [k, v] of Object.entries(promised)) assert.equal(got[k], v, line)
        } else assert.equal(body, `hello from ${url}`, 'forwarded with the container\'s token')
      }
      assert.ok(up.received.every((r) => r.headers['x-auth-token'] === containerToken && !JSON.stringify(r.headers).includes(key)))
      assert.ok(out.includes('"msg":"through tollgate"') && out.includes('"principal":"key:ci"'), 'the app\'s hook logged tollgate\'s decision')
      assert.ok(!out.includes(containerToken) && !out.includes(key), 'no secret in the app\'s log')
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, `SIGTERM: the app closed and the process ended by itself (${err})`)
  } finally {
    await up.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
