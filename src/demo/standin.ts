// A stand-in private Scaleway Serverless Container: 403 JSON without the right X-Auth-Token;
// otherwise it echoes the method, path and the headers it received (the token's value masked).
import { createServer, type Server } from 'node:http'
import { timingSafeEqual, createHash } from 'node:crypto'

export function createStandInContainer (token: string): Server {
  const expected = createHash('sha256').update(token).digest()
  return createServer((req, res) => {
    const got = req.headers['x-auth-token']
    const ok = typeof got === 'string' && timingSafeEqual(createHash('sha256').update(got).digest(), expected)
    if (!ok) {
      const body = JSON.stringify({ message: 'private container: a valid X-Auth-Token is required' })
      res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
      return
    }
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, 'x-auth-token': '[valid token, value hidden]' }
    const body = JSON.stringify({ container: 'stand-in private container', method: req.method, path: req.url, headers }, null, 2) + '\n'
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
}
