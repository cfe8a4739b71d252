// One development CA per test process, made at test time (never committed).
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDevCa, type DevCa, type Pem } from '../../src/tls/devcert.js'

let ca: DevCa | undefined
let leaf: Pem | undefined

export function testCa (): DevCa {
  ca ??= createDevCa('tollgate test CA')
  return ca
}

/** A leaf for localhost / 127.0.0.1 / ::1, signed by the test CA. */
export function localhostCert (): Pem {
  leaf ??= testCa().issue(['localhost', '127.0.0.1', '::1'])
  return leaf
}

/** Writes the CA, the localhost cert and key to a fresh folder; returns the file paths. */
export function writePki (dir = mkdtempSync(join(tmpdir(), 'tollgate-pki-'))): { dir: string, ca: string, cert: string, key: string } {
  const files = { dir, ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }
  writeFileSync(files.ca, testCa().cert)
  writeFileSync(files.cert, localhostCert().cert)
  writeFileSync(files.key, localhostCert().key, { mode: 0o600 })
  return files
}
