// Watches one direction of a tunnel for the start of the WebSocket closing handshake (RFC 6455
// §5.2 framing, §5.5.1 Close): frame headers are read only to skip payloads, and the first Close
// frame's status code is kept, so the access line can say who closed the WebSocket and how.
// Nothing is changed or held back (the bytes go through as they came); a length this watcher cannot
// follow (past 2^53) ends the watching, never the tunnel.
export class CloseWatch {
  /** The status code of the first Close frame (1005 when it carried none); undefined until one is seen. */
  code: number | undefined = undefined
  private readonly head = Buffer.alloc(14)
  /** Header bytes collected for the frame being read. */
  private have = 0
  /** Payload bytes left of the current frame. */
  private skip = 0
  /** The current frame is a Close: its first two payload bytes are the status code. */
  private closing = false
  private mask: Buffer | undefined = undefined
  private codeBytes: number[] = []
  private lost = false

  get done (): boolean {
    return this.lost || this.code !== undefined
  }

  scan (chunk: Buffer): void {
    if (this.done) return
    const n = chunk.length
    let i = 0
    while (i < n) {
      if (this.skip > 0) {
        if (!this.closing) {
          const take = Math.min(this.skip, n - i)
          i += take
          this.skip -= take
          continue
        }
        const b = chunk[i++]
        this.skip--
        this.codeBytes.push(this.mask === undefined ? b : b ^ this.mask[this.codeBytes.length & 3])
        if (this.codeBytes.length === 2) {
          this.code = (this.codeBytes[0] << 8) | this.codeBytes[1]
          return
        }
        continue
      }
      this.head[this.have++] = chunk[i++]
      if (!this.frameStart()) continue
      if (this.done) return
    }
  }

  /** With the header bytes read so far: true once the header was whole (and taken in). */
  private frameStart (): boolean {
    const head = this.head
    if (this.have < 2) return false
    const len7 = head[1] & 127
    const masked = (head[1] & 128) !== 0
    const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0)
    if (this.have < need) return false
    let len = len7
    let at = 2
    if (len7 === 126) {
      len = head.readUInt16BE(2)
      at = 4
    } else if (len7 === 127) {
      const big = head.readBigUInt64BE(2)
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        this.lost = true
        return true
      }
      len = Number(big)
      at = 10
    }
    this.have = 0
    if ((head[0] & 15) === 8) {
      if (len < 2) {
        this.code = 1005
        return true
      }
      this.closing = true
      this.mask = masked ? Buffer.from(head.subarray(at, at + 4)) : undefined
    }
    this.skip = len
    return true
  }
}
