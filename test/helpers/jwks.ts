// A JWKS endpoint on loopback for tests that sign their own JWTs (one ES256 key, generated here).
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JWK } from 'jose'

export interface Jwks {
  /** http://127.0.0.1:PORT/jwks */
  url: string
  kid: string
  privateKey: KeyObject
  close (): Promise<void>
}

export async function startJwks (kid = 'test-1'): Promise<Jwks> {
  const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk: JWK = { ...(kp.publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256', use: 'sig' }
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    kid,
    privateKey: kp.privateKey,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
