// inIpRange: strict address parsing, IPv4-mapped IPv6 as IPv4, CIDR sets against ipaddr.js.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import ipaddr from 'ipaddr.js'
import { IpSet, parseCidr, parseIp } from '../../src/ip/index.js'
import { compileCondition } from '../../src/policy/index.js'

const inRange = (ip: string, range: string): unknown =>
  compileCondition(`inIpRange(request.ip, ${range})`).evaluate({ request: { ip }, principal: {} })

test('parseIp is strict', () => {
  assert.equal(parseIp('198.51.100.7'), 0xc6336407)
  assert.equal(parseIp('0.0.0.0'), 0)
  assert.equal(parseIp('255.255.255.255'), 0xffffffff)
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '1.2.3.4 ', '0x7f.0.0.1', '1..2.3', '::g', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', ':::']) {
    assert.equal(parseIp(bad), undefined, bad)
  }
  assert.deepEqual(parseIp('2001:db8::1'), [0x20010db8, 0, 0, 1])
  assert.deepEqual(parseIp('::'), [0, 0, 0, 0])
  assert.deepEqual(parseIp('1:2:3:4:5:6:7:8'), [0x10002, 0x30004, 0x50006, 0x70008])
  assert.equal(parseIp('::ffff:198.51.100.7'), 0xc6336407, 'IPv4-mapped is IPv4')
  assert.equal(parseIp('::ffff:c633:6407'), 0xc6336407, 'IPv4-mapped in hex too')
  assert.deepEqual(parseIp('64:ff9b::198.51.100.7'), [0x0064ff9b, 0, 0, 0xc6336407], 'NAT64 is not IPv4-mapped')
})

test('inIpRange with one CIDR: IPv4, IPv6, mapped on either side, bare hosts, /0', () => {
  assert.equal(inRange('198.51.100.7', '"198.51.100.0/24"'), true)
  assert.equal(inRange('198.51.101.7', '"198.51.100.0/24"'), false)
  assert.equal(inRange('::ffff:198.51.100.7', '"198.51.100.0/24"'), true)
  assert.equal(inRange('198.51.100.7', '"::ffff:198.51.100.0/120"'), true)
  assert.equal(inRange('2001:db8::42', '"2001:db8::/32"'), true)
  assert.equal(inRange('2001:db9::42', '"2001:db8::/32"'), false)
  assert.equal(inRange('198.51.100.7', '"2001:db8::/32"'), false, 'families never match each other')
  assert.equal(inRange('198.51.100.7', '"198.51.100.7"'), true, 'a bare address is a /32')
  assert.equal(inRange('198.51.100.8', '"198.51.100.7"'), false)
  assert.equal(inRange('198.51.100.7', '"198.51.100.99/24"'), true, 'host bits are ignored')
  assert.equal(inRange('8.8.8.8', '"0.0.0.0/0"'), true)
  assert.equal(inRange('2001:db8::1', '"::/0"'), true)
  assert.equal(inRange('not an ip', '"0.0.0.0/0"'), false)
})

test('inIpRange with a list (literal, or computed at evaluation)', () => {
  const list = '["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/48", "203.0.113.7/32"]'
  assert.equal(inRange('10.1.2.3', list), true)
  assert.equal(inRange('192.168.255.1', list), true)
  assert.equal(inRange('203.0.113.7', list), true)
  assert.equal(inRange('203.0.113.8', list), false)
  assert.equal(inRange('2001:db8:0:1::1', list), true)
  assert.equal(inRange('2001:db8:1::1', list), false)
  const dyn = compileCondition('inIpRange(request.ip, principal.claims.nets)')
  assert.equal(dyn.evaluate({ request: { ip: '10.9.9.9' }, principal: { claims: { nets: ['192.168.0.0/16', '10.0.0.0/8'] } } }), true)
  assert.equal(dyn.evaluate({ request: { ip: '11.9.9.9' }, principal: { claims: { nets: ['10.0.0.0/8'] } } }), false)
  assert.throws(() => dyn.evaluate({ request: { ip: '11.9.9.9' }, principal: { claims: { nets: ['10.0.0.0/99'] } } }), /invalid CIDR/)
  const one = compileCondition('inIpRange(request.ip, principal.claims.net)')
  assert.equal(one.evaluate({ request: { ip: '10.9.9.9' }, principal: { claims: { net: '10.0.0.0/8' } } }), true)
})

test('named lists (ipLists) are built once and shared', () => {
  const ipLists = { office: ['198.51.100.0/24', '2001:db8:1::/48'] }
  const a = compileCondition('inIpRange(request.ip, ipLists.office)', { ipLists })
  const b = compileCondition('inIpRange(request.ip, ipLists["office"])', { ipLists })
  assert.equal(a.evaluate({ request: { ip: '198.51.100.1' }, principal: {} }), true)
  assert.equal(b.evaluate({ request: { ip: '2001:db8:1::5' }, principal: {} }), true)
  assert.equal(b.evaluate({ request: { ip: '2001:db8:2::5' }, principal: {} }), false)
})

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'))
const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'))
const cidr = fc.oneof(
  fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, b]) => `${a}/${b}`),
  fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([a, b]) => `${a}/${b}`)
)

test('IpSet agrees with a linear scan using ipaddr.js (random CIDRs and addresses)', () => {
  fc.assert(fc.property(fc.array(cidr, { minLength: 1, maxLength: 40 }), fc.array(fc.oneof(v4, v6), { minLength: 1, maxLength: 20 }), (cidrs, ips) => {
    const set = new IpSet(cidrs.map(parseCidr))
    const parsed = cidrs.map((c) => ipaddr.parseCIDR(c))
    for (const ip of ips) {
      const a = ipaddr.parse(ip)
      const want = parsed.some(([r, bits]) => r.kind() === a.kind() && a.match(r, bits))
      assert.equal(set.hasText(ip), want, `${ip} in ${cidrs.join(' ')}`)
      // An address inside the first CIDR is always found (exercise hits, not only misses).
      const [r0] = parsed[0]
      assert.equal(set.hasText(r0.toString()), true)
    }
  }), { numRuns: 400 })
})
