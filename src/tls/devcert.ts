// A development certificate authority and leaf certificates, for the demo and the tests. Never for
// production: the CA key sits next to its certificate.
import forge from 'node-forge'
import { randomBytes } from 'node:crypto'

export interface Pem { cert: string, key: string }

export interface DevCa extends Pem {
  /** Issue a leaf certificate for these DNS names / IP addresses. */
  issue (names: string[], opts?: { days?: number }): Pem
}

function newKeys (): forge.pki.rsa.KeyPair {
  // forge delegates to Node's native generateKeyPairSync when it is there (fast).
  return forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 })
}

function serial (): string {
  const b = randomBytes(16)
  b[0] &= 0x7f
  return b.toString('hex')
}

export function createDevCa (commonName = 'tollgate development CA'): DevCa {
  const keys = newKeys()
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = serial()
  cert.validity.notBefore = new Date(Date.now() - 60_000)
  cert.validity.notAfter = new Date(Date.now() + 3650 * 86400_000)
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'tollgate dev' }]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' }
  ])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  const caCert = cert
  return {
    cert: forge.pki.certificateToPem(caCert),
    key: forge.pki.privateKeyToPem(keys.privateKey),
    issue (names, opts = {}) {
      const leafKeys = newKeys()
      const leaf = forge.pki.createCertificate()
      leaf.publicKey = leafKeys.publicKey
      leaf.serialNumber = serial()
      leaf.validity.notBefore = new Date(Date.now() - 60_000)
      leaf.validity.notAfter = new Date(Date.now() + (opts.days ?? 825) * 86400_000)
      leaf.setSubject([{ name: 'commonName', value: names[0] }])
      leaf.setIssuer(caCert.subject.attributes)
      leaf.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: names.map((n) => (/^[\d.]+$|:/.test(n) ? { type: 7, ip: n } : { type: 2, value: n }))
        }
      ])
      leaf.sign(keys.privateKey, forge.md.sha256.create())
      return { cert: forge.pki.certificateToPem(leaf), key: forge.pki.privateKeyToPem(leafKeys.privateKey) }
    }
  }
}
