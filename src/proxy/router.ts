// Host + path-prefix routing. Prefixes match on segment bounds (`/hello` matches `/hello` and
// `/hello/x`, not `/helloworld`); the longest prefix wins; a container with a host beats one without
// for the same prefix. Lookup costs one map probe per path segment, whatever the container count.
import type { Exchange } from '../exchange.js'

export interface Routable {
  readonly name: string
  readonly host: string | undefined
  readonly prefix: string
}

export interface Router<T extends Routable> {
  match (host: string, path: string): T | undefined
  readonly hosts: ReadonlySet<string>
}

export function buildRouter<T extends Routable> (routes: readonly T[]): Router<T> {
  const byHost = new Map<string, Map<string, T>>()
  const anyHost = new Map<string, T>()
  for (const r of routes) {
    if (r.host === undefined) anyHost.set(r.prefix, r)
    else {
      let m = byHost.get(r.host)
      if (m === undefined) byHost.set(r.host, m = new Map())
      m.set(r.prefix, r)
    }
  }
  const hosts = new Set(byHost.keys())
  return {
    hosts,
    match (host, path) {
      const specific = byHost.get(host)
      // Candidate prefixes, longest first: the path itself, then each shorter segment bound, then "/".
      let end = path.length
      while (end > 0) {
        const prefix = end === path.length ? path : path.slice(0, end)
        const hit = specific?.get(prefix) ?? anyHost.get(prefix)
        if (hit !== undefined) return hit
        end = path.lastIndexOf('/', end - 1)
      }
      return specific?.get('/') ?? anyHost.get('/')
    }
  }
}

/** The route step: the container for the request's host and canonical path, or undefined (404). */
export function route<T extends Routable> (x: Exchange, router: Router<T>): T | undefined {
  const c = router.match(x.host, x.path)
  if (c !== undefined) x.container = c.name
  return c
}
