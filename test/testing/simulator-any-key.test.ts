// The simulator's `acceptAnyKey` option (what `npx iprisk simulate` runs with): any non-empty key in an accepted
// header passes; a missing key, or a key in a header `auth` does not accept, is still refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'

let anyKey: IpasisSimulator
let anyKeyBearerOnly: IpasisSimulator
let exactKey: IpasisSimulator

beforeAll(async () => {
  ;[anyKey, anyKeyBearerOnly, exactKey] = await Promise.all([
    startIpasisSimulator({ acceptAnyKey: true }),
    startIpasisSimulator({ acceptAnyKey: true, auth: 'bearer' }),
    startIpasisSimulator({ apiKey: 'the-key' }),
  ])
})
afterAll(async () => {
  await Promise.all([anyKey.close(), anyKeyBearerOnly.close(), exactKey.close()])
})

async function status(sim: IpasisSimulator, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${sim.url}/v1/ip/203.0.113.7`, { headers })
  await res.arrayBuffer()
  return res.status
}

describe('acceptAnyKey', () => {
  it.each<{ sim: () => IpasisSimulator; headers: Record<string, string>; status: number }>([
    { sim: () => anyKey, headers: { authorization: 'Bearer sk_live_whatever' }, status: 200 },
    { sim: () => anyKey, headers: { 'x-api-key': 'anything' }, status: 200 },
    { sim: () => anyKey, headers: {}, status: 401 },
    { sim: () => anyKey, headers: { 'x-api-key': '' }, status: 401 },
    { sim: () => anyKey, headers: { authorization: 'Basic dTpw' }, status: 401 },
    { sim: () => anyKeyBearerOnly, headers: { authorization: 'Bearer anything' }, status: 200 },
    { sim: () => anyKeyBearerOnly, headers: { 'x-api-key': 'anything' }, status: 401 },
    // Off (the default): only the configured key.
    { sim: () => exactKey, headers: { authorization: 'Bearer the-key' }, status: 200 },
    { sim: () => exactKey, headers: { authorization: 'Bearer another-key' }, status: 401 },
    { sim: () => exactKey, headers: { 'x-api-key': 'another-key' }, status: 401 },
  ])('%# $headers → $status', async ({ sim, headers, status: expected }) => {
    expect(await status(sim(), headers)).toBe(expected)
  })
})
