// The HTTPS listener's certificate and key, read and checked the way `serve` (at start and on every
// reload) and `check` both need: readable, PEM, a certificate in `cert` and a private key in `key`,
// the key matching the certificate, and how long the certificate has left. Every error names the
// field and the file, never an OpenSSL code alone.
import { readFileSync } from 'node:fs'
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import { FieldError, errnoCode } from '../errors.js'

/** A certificate that expires within this is reported (a warning at start, in `check`). */
export const EXPIRY_WARNING_DAYS = 14

export interface TlsFiles {
  cert: Buffer
  key: Buffer
  /** Legal but worth saying: a certificate expiring soon (or already expired). */
  warnings: Array<{ field: string, message: string }>
}

function tlsError (field: string, message: string): FieldError {
  return new FieldError(field, message, 'TG_ERR_TLS')
}

function read (field: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw tlsError(field, `cannot read ${file}: ${errnoCode(err)}`)
  }
}

/** What the PEM blocks of a file are (`CERTIFICATE`, `PRIVATE KEY`…), to say what a wrong file holds. */
function pemLabels (text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]!)
}

export function readTlsFiles (tls: { cert: string, key: string }, now = Date.now()): TlsFiles {
  const cert = read('server.tls.cert', tls.cert)
  const key = read('server.tls.key', tls.key)
  const certLabels = pemLabels(cert.toString('latin1'))
  if (!certLabels.includes('CERTIFICATE')) {
    throw tlsError('server.tls.cert', `${tls.cert} is not a PEM certificate` +
      (certLabels.some((l) => l.includes('PRIVATE KEY')) ? ' (it holds a private key: cert and key swapped?)' : certLabels.length > 0 ? ` (it holds ${certLabels[0]})` : ' (no "-----BEGIN CERTIFICATE-----" block)'))
  }
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(cert)
  } catch {
    throw tlsError('server.tls.cert', `${tls.cert}: the first certificate does not parse (damaged PEM)`)
  }
  const keyLabels = pemLabels(key.toString('latin1'))
  if (!keyLabels.some((l) => l.includes('PRIVATE KEY'))) {
    throw tlsError('server.tls.key', `${tls.key} is not a PEM private key` +
      (keyLabels.includes('CERTIFICATE') ? ' (it holds a certificate: cert and key swapped?)' : keyLabels.length > 0 ? ` (it holds ${keyLabels[0]})` : ' (no "-----BEGIN … PRIVATE KEY-----" block)'))
  }
  if (keyLabels.includes('ENCRYPTED PRIVATE KEY') || /Proc-Type: 4,ENCRYPTED/.test(key.toString('latin1'))) {
    throw tlsError('server.tls.key', `${tls.key} is encrypted with a passphrase, which tollgate does not take: store it unencrypted (mode 0600)`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key)
  } catch {
    throw tlsError('server.tls.key', `${tls.key}: the private key does not parse (damaged PEM)`)
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw tlsError('server.tls.key', `${tls.key} does not match the certificate in ${tls.cert} (subject ${oneName(leaf)}): give the key the certificate was issued for`)
  }
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    throw tlsError('server.tls.cert', `${tls.cert} with ${tls.key} cannot be used for TLS (${(err as Error).message.split('\n')[0]})`)
  }
  const warnings: TlsFiles['warnings'] = []
  const expires = Date.parse(leaf.validTo)
  const days = Math.floor((expires - now) / 86_400_000)
  if (expires <= now) {
    warnings.push({ field: 'server.tls.cert', message: `${tls.cert} expired on ${new Date(expires).toISOString()}: clients refuse it` })
  } else if (days < EXPIRY_WARNING_DAYS) {
    warnings.push({ field: 'server.tls.cert', message: `${tls.cert} expires in ${days} day${days === 1 ? '' : 's'} (${new Date(expires).toISOString()}): renew it (a SIGHUP loads the new one)` })
  }
  return { cert, key, warnings }
}

function oneName (c: X509Certificate): string {
  const cn = /CN=([^\n,]+)/.exec(c.subject)?.[1]
  return cn !== undefined ? `CN=${cn}` : c.subject.split('\n')[0] ?? '?'
}
