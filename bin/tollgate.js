#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).

// `serve` reloads on SIGHUP; until it has installed its handler (modules still loading), a SIGHUP
// must not kill the process, so it is ignored here first.
const ignoreHup = () => {}
if (process.argv[2] === 'serve') process.on('SIGHUP', ignoreHup)

const { main } = await import('../dist/src/cli/main.js')
main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code },
  (err) => {
    process.stderr.write(`tollgate: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  }
).finally(() => process.off('SIGHUP', ignoreHup))
