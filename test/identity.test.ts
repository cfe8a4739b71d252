// Identity (src/identity): which strings are IP addresses, how trusted-proxy lists match, and how
// X-Forwarded-For is walked. The matcher runs on integer ranges; it must agree with ipaddr.js
// (what it replaced on the request path) on every address.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import ipaddr from 'ipaddr.js'
import { normalizeIp, ipMatcher, clientIp } from '../src/identity/index.js'

test('normalizeIp: dotted-quad IPv4, IPv4-mapped IPv6 as IPv4, IPv6 canonical; anything else is not an IP', () => {
  const cases: Array<[string, string | null]> = [
    ['198.51.100.7', '198.51.100.7'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['::FFFF:198.51.100.7', '198.51.100.7'],
    ['::ffff:c633:6407', '198.51.100.7'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::1', '::1'],
    ['127.1', null],
    ['0x7f.0.0.1', null],
    ['010.0.0.1', null],
    ['1.2.3.4.5', null],
    ['256.1.1.1', null],
    ['1.2.3.', null],
    ['', null],
    ['localhost', null],
    ['::ffff:1.2.3', null],
    ['1.2.3.4 ', null],
    ['2001:db8::1::2', null]
  ]
  for (const [input, want] of cases) assert.equal(normalizeIp(input), want, JSON.stringify(input))
})

test('ipMatcher: IPv4 and IPv6 ranges, single hosts, IPv4-mapped prefixes; an ambiguous entry is refused', () => {
  const m = ipMatcher(['10.0.0.0/8', '192.0.2.1', '2001:db8::/32', '::ffff:203.0.113.0/120'])
  assert.equal(m('10.255.1.2'), true)
  assert.equal(m('11.0.0.1'), false)
  assert.equal(m('192.0.2.1'), true)
  assert.equal(m('192.0.2.2'), false)
  assert.equal(m('2001:db8:1::5'), true)
  assert.equal(m('2001:db9::5'), false)
  assert.equal(m('203.0.113.77'), true)
  assert.equal(m('203.0.114.1'), false)
  assert.equal(ipMatcher([])('10.0.0.1'), false)
  // "172.016.0.1": ipaddr.js reads the leading zero as octal (172.14.0.1), other parsers as
  // decimal; one reading everywhere means none for it (config refuses it at load).
  assert.throws(() => ipMatcher(['172.016.0.1']), /invalid CIDR "172\.016\.0\.1"/)
})

test('ipMatcher agrees with ipaddr.js matching on random addresses and prefixes', () => {
  const v4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
    .map((p) => p.join('.'))
  const v6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((g) => ipaddr.fromByteArray(g.flatMap((x) => [x >> 8, x & 255])).toString())
  const cidr = fc.oneof(
    fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, b]) => `${a}/${b}`),
    fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([a, b]) => `${a}/${b}`)
  )
  fc.assert(fc.property(fc.array(cidr, { maxLength: 6 }), fc.oneof(v4, v6), (cidrs, ip) => {
    const a = ipaddr.parse(ip)
    const expected = cidrs.some((c) => {
      const [r, bits] = ipaddr.parseCIDR(c)
      return r.kind() === a.kind() && a.match(r, bits)
    })
    assert.equal(ipMatcher(cidrs)(ip), expected, `${ip} in ${cidrs.join(', ')}`)
  }), { numRuns: 2000 })
})

test('clientIp: X-Forwarded-For is read only from a trusted peer, walked right to left to the first untrusted address', () => {
  const trusted = ipMatcher(['10.0.0.0/8'])
  assert.equal(clientIp('198.51.100.7', false, '1.1.1.1', trusted), '198.51.100.7')
  assert.equal(clientIp('10.0.0.1', true, undefined, trusted), '10.0.0.1')
  assert.equal(clientIp('10.0.0.1', true, '1.1.1.1, 203.0.113.9, 10.0.0.2', trusted), '203.0.113.9')
  assert.equal(clientIp('10.0.0.1', true, ['1.1.1.1', '10.0.0.3'], trusted), '1.1.1.1')
  assert.equal(clientIp('10.0.0.1', true, '10.0.0.9, 10.0.0.2', trusted), '10.0.0.9')
  // A spoofed garbage entry stops the walk: the nearest trusted hop is the client.
  assert.equal(clientIp('10.0.0.1', true, '1.1.1.1, not-an-ip, 10.0.0.2', trusted), '10.0.0.2')
  assert.equal(clientIp('10.0.0.1', true, '::ffff:203.0.113.9', trusted), '203.0.113.9')
  assert.equal(clientIp('10.0.0.1', true, ' , ', trusted), '10.0.0.1')
})
