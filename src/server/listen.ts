// Binding a listener: the one place a failure to listen becomes TG_ERR_LISTEN.
import type { AddressInfo, Server } from 'node:net'
import { TollgateError, errnoCode } from '../errors.js'

export async function listenOn (server: Server, host: string, port: number): Promise<AddressInfo> {
  return await new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new TollgateError('TG_ERR_LISTEN', `cannot listen on ${host}:${port}: ${errnoCode(err)}`))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    })
  })
}
