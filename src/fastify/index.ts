// `tollgate/fastify`: tollgate as a Fastify plugin. The same containers, decisions, credentials,
// injection and wire rules as `tollgate serve`, inside a user's Fastify app (its listeners, TLS and
// redirect stay the app's own):
//
//   import Fastify from 'fastify'
//   import tollgate from 'tollgate/fastify'
//   const app = Fastify()
//   await app.register(tollgate, { config: '/path/to/tollgate.yaml' })   // or { config: { … } }
//
// docs/fastify.md is the guide. fastify and @fastify/reply-from are peer dependencies of this entry
// point only: `tollgate serve` never loads them.
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { register, type TollgateOptions, type TollgateRequest } from './plugin.js'

export type { TollgateOptions, TollgateRequest, TollgateConfigInput } from './plugin.js'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * tollgate's decision on a request that reached one of its routes (set before the route's
     * preParsing hooks run); null on the app's own routes, and in the app's onRequest hooks.
     */
    tollgate: TollgateRequest | null
  }
}

/** The plugin: register it at the app's root, once per tollgate config. */
const tollgate: FastifyPluginAsync<TollgateOptions> = fp(register, {
  // The lowest fastify free of GHSA-3m5p-2c4r-xxw2 and GHSA-w2qp-rph6-63g4 (docs/security.md).
  fastify: '>=5.12.1 <6',
  name: 'tollgate'
})

export default tollgate
export { tollgate }
