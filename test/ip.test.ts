// One IP reading for every room (src/ip): identity (client IP, trusted proxies) and policy
// (inIpRange) give the same text the same meaning, and that meaning is ipaddr.js's, except for
// the forms tollgate refuses (non-dotted-quad IPv4, zone ids) and ipaddr.js's reading of
// IPv4-compatible "::a.b.c.d" as IPv4-mapped (RFC 4291: it is the IPv6 address ::a.b.c.d).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import ipaddr from 'ipaddr.js'
import { ipMatcher, normalizeIp, parseIp } from '../src/ip/index.js'
import { clientIp, normalizeIp as identityNormalizeIp } from '../src/identity/index.js'
import { compileContainerPolicy, ANONYMOUS, type RequestFacts } from '../src/policy/index.js'

const facts = (ip: string): RequestFacts => ({ ip, userAgent: '', time: new Date(0), method: 'GET', path: '/', host: 'h', headers: {} })
const inRange = (ip: string, cidr: string): boolean =>
  compileContainerPolicy('c', 'public', [{ name: 'r', condition: `inIpRange(request.ip, "${cidr}")` }]).decide(facts(ip), ANONYMOUS).allow

test('::198.51.100.7 (IPv4-compatible) is an IPv6 address in identity and in policy alike, never 198.51.100.7', () => {
  assert.equal(identityNormalizeIp, normalizeIp, 'identity uses the ip room')
  assert.equal(normalizeIp('::198.51.100.7'), '::c633:6407')
  assert.equal(normalizeIp('::c633:6407'), '::c633:6407', 'the same address in hex')
  // Through a trusted proxy's X-Forwarded-For it stays that IPv6 address ...
  const trusted = ipMatcher(['10.0.0.0/8'])
  assert.equal(clientIp('10.0.0.1', true, '::198.51.100.7', trusted), '::c633:6407')
  // ... and policy reads it (in either spelling) as the same IPv6 address.
  for (const ip of ['::198.51.100.7', '::c633:6407', clientIp('10.0.0.1', true, '::198.51.100.7', trusted)]) {
    assert.equal(inRange(ip, '198.51.100.0/24'), false, ip)
    assert.equal(inRange(ip, '::/96'), true, ip)
    assert.equal(inRange(ip, '::c633:6400/120'), true, ip)
  }
  // IPv4-mapped, in any notation, is IPv4 everywhere.
  for (const ip of ['::ffff:198.51.100.7', '::FFFF:c633:6407', '0:0:0:0:0:ffff:198.51.100.7']) {
    assert.equal(normalizeIp(ip), '198.51.100.7', ip)
    assert.equal(inRange(ip, '198.51.100.0/24'), true, ip)
  }
})

test('normalizeIp and parseIp agree with ipaddr.js on random IPv6 texts (every notation it prints)', () => {
  const groups = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  const special = fc.constantFrom([0, 0, 0, 0, 0, 0xffff], [0, 0, 0, 0, 0, 0], [0x64, 0xff9b, 0, 0, 0, 0], [0x2001, 0xdb8, 0, 0, 0, 0])
  const addr = fc.oneof(groups, fc.tuple(special, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([h, a, b]) => [...h, a, b]))
  fc.assert(fc.property(addr, fc.integer({ min: 0, max: 3 }), (g, form) => {
    const a = new ipaddr.IPv6(g)
    const text = [a.toString(), a.toNormalizedString(), a.toRFC5952String(), a.toNormalizedString().toUpperCase()][form]
    const mapped = a.isIPv4MappedAddress()
    assert.equal(normalizeIp(text), mapped ? a.toIPv4Address().toString() : a.toString(), text)
    const words = parseIp(text)
    if (mapped) assert.equal(words, (g[6] * 65536) + g[7], text)
    else assert.deepEqual(words, [g[0] * 65536 + g[1], g[2] * 65536 + g[3], g[4] * 65536 + g[5], g[6] * 65536 + g[7]], text)
  }), { numRuns: 3000 })
})

test('dotted-quad IPv4 reads as ipaddr.js reads it; the forms it reads differently elsewhere are not addresses', () => {
  fc.assert(fc.property(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), (o) => {
    const text = o.join('.')
    assert.equal(normalizeIp(text), ipaddr.IPv4.parse(text).toString())
    assert.equal(parseIp(text), ipaddr.IPv4.parse(text).toByteArray().reduce((n, b) => n * 256 + b, 0))
  }), { numRuns: 2000 })
  for (const s of ['127.1', '0x7f.0.0.1', '010.0.0.1', '1.2.3.4.5', '::ffff:010.0.0.1', 'fe80::1%eth0', '::ffff:1.2.3', '1::2::3', '']) {
    assert.equal(normalizeIp(s), null, s)
    assert.equal(parseIp(s), undefined, s)
  }
})
