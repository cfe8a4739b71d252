// The checkout's root folder, whether tests run compiled (dist/test) or through tsx (test/).
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith('/dist')) {
    const up = dirname(dir)
    if (up === dir) throw new Error('package root not found')
    dir = up
  }
  return dir
}

export const ROOT = findRoot()
export const BIN = join(ROOT, 'bin', 'tollgate.js')
