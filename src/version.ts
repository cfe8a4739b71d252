// tollgate's own version, from its package.json, read when first asked (`tollgate --version`, the
// tollgate_build_info metric).
import { readFileSync } from 'node:fs'

let version: string | undefined

export function packageVersion (): string {
  if (version !== undefined) return version
  version = 'unknown'
  // src/version.ts and dist/src/version.js sit one and two levels below the root
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'tollgate' && typeof pkg.version === 'string') return (version = pkg.version)
    } catch { /* try the next */ }
  }
  return version
}
