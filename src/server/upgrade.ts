// HTTP/1.1 upgrade requests. Node hands the connection over ('upgrade') once the request head is
// read, and stops parsing it: the request runs through the pipeline like any other, and is answered
// on that connection through a ServerResponse of its own, which closes the connection once written
// (nothing after an upgrade request is read as HTTP). A tunnel takes the connection over instead.
import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'

/** The response for an upgrade request on `socket`: `Connection: close`, and the socket closed once it is sent. */
export function upgradeResponse (req: IncomingMessage, socket: Socket, timeoutMs: number): ServerResponse {
  // Node took its own error and timeout listeners off the socket with the upgrade.
  socket.on('error', () => {})
  // Until a tunnel takes over (it clears this): a client that never reads its answer is cut.
  socket.setTimeout(timeoutMs, () => { socket.destroy() })
  const res = new ServerResponse(req)
  res.shouldKeepAlive = false
  res.assignSocket(socket)
  // The server's 'drain' relay went with the upgrade too: a relayed body waits on the response's.
  socket.on('drain', () => { if (res.writableNeedDrain) res.emit('drain') })
  res.once('finish', () => { socket.destroySoon() })
  return res
}
