import { describe, expect, it } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { compilePolicy, evaluate, policies } from '../../src/core/policy.js'
import type { Decision, DecisionReason, FailMode, IpRisk, Policy } from '../../src/core/types.js'
import { configError } from '../support/errors.js'
import { NO_DATA, risk } from '../support/risk.js'

/** Representative answers: the rows of the preset matrix. */
const RISKS = {
  clean: risk(),
  vpn: risk({ score: 30, isVpn: true }),
  proxy: risk({ score: 30, isProxy: true }),
  tor: risk({ score: 70, isTor: true }),
  datacenter41: risk({ score: 41, isDatacenter: true }),
  datacenter50: risk({ score: 50, isDatacenter: true }),
  datacenter61: risk({ score: 61, isDatacenter: true }),
  high97: risk({ score: 97 }),
  nullFields: risk({ ...NO_DATA }),
  nullScoreVpn: risk({ ...NO_DATA, isVpn: true }),
  unavailable: risk({ ...NO_DATA, status: 'unavailable', error: 'timeout', source: 'none', lookupMs: 150 }),
  pending: risk({ ...NO_DATA, status: 'pending', source: 'none', lookupMs: 0 }),
  stale92: risk({ score: 92, source: 'stale', error: 'network' }),
  listedAllow: risk({ ...NO_DATA, status: 'skipped', listed: 'allow', source: 'none' }),
  listedDeny: risk({ ...NO_DATA, status: 'skipped', listed: 'deny', source: 'none' }),
  blocklisted: risk({ ...NO_DATA, status: 'skipped', listed: 'blocklist', source: 'none' }),
  nonGlobal: risk({ ...NO_DATA, ip: '10.1.2.3', ipKind: 'private', status: 'skipped', source: 'none', lookupMs: 0 }),
  noIp: risk({ ...NO_DATA, ip: null, ipKind: null, status: 'skipped', error: 'no_ip', source: 'none', lookupMs: 0 }),
} satisfies Record<string, IpRisk>

type RiskName = keyof typeof RISKS
type PresetName = 'baseline' | 'lowRisk(70)' | 'human' | 'notBot' | 'admin'

const PRESETS: Record<PresetName, Readonly<Policy>> = {
  baseline: policies.baseline,
  'lowRisk(70)': policies.lowRisk(70),
  human: policies.human,
  notBot: policies.notBot,
  admin: policies.admin,
}

/** Blocking reasons; every other reason allows (in fail-open mode `lookup_unavailable` allows too). */
const BLOCKING: ReadonlySet<DecisionReason> = new Set([
  'risk_score_exceeded',
  'tor_exit_node',
  'vpn_detected',
  'proxy_detected',
  'datacenter_ip',
  'denylisted',
  'blocklisted',
])

const U = 'lookup_unavailable' as const

/**
 * The specification of the presets: the reason each one gives for each answer. `lookup_unavailable` rows are
 * decided by the fail mode (checked separately for `open` and `closed` below).
 */
const EXPECTED: Record<RiskName, Record<PresetName, DecisionReason>> = {
  //              baseline (>=90)         lowRisk(70) (>=70)      human (tor, >=80)       notBot (tor, dc>60, >=85) admin (tor, vpn, dc>40, >=60)
  clean:        { baseline: 'clean', 'lowRisk(70)': 'clean', human: 'clean', notBot: 'clean', admin: 'clean' },
  vpn:          { baseline: 'clean', 'lowRisk(70)': 'clean', human: 'clean', notBot: 'clean', admin: 'vpn_detected' },
  proxy:        { baseline: 'clean', 'lowRisk(70)': 'clean', human: 'clean', notBot: 'clean', admin: 'clean' },
  tor:          { baseline: 'clean', 'lowRisk(70)': 'risk_score_exceeded', human: 'tor_exit_node', notBot: 'tor_exit_node', admin: 'tor_exit_node' },
  datacenter41: { baseline: 'clean', 'lowRisk(70)': 'clean', human: 'clean', notBot: 'clean', admin: 'datacenter_ip' },
  datacenter50: { baseline: 'clean', 'lowRisk(70)': 'clean', human: 'clean', notBot: 'clean', admin: 'datacenter_ip' },
  datacenter61: { baseline: 'clean', 'lowRisk(70)': 'clean', human: 'clean', notBot: 'datacenter_ip', admin: 'datacenter_ip' },
  high97:       { baseline: 'risk_score_exceeded', 'lowRisk(70)': 'risk_score_exceeded', human: 'risk_score_exceeded', notBot: 'risk_score_exceeded', admin: 'risk_score_exceeded' },
  nullFields:   { baseline: U, 'lowRisk(70)': U, human: U, notBot: U, admin: U },
  nullScoreVpn: { baseline: U, 'lowRisk(70)': U, human: U, notBot: U, admin: 'vpn_detected' },
  unavailable:  { baseline: U, 'lowRisk(70)': U, human: U, notBot: U, admin: U },
  pending:      { baseline: U, 'lowRisk(70)': U, human: U, notBot: U, admin: U },
  stale92:      { baseline: 'risk_score_exceeded', 'lowRisk(70)': 'risk_score_exceeded', human: 'risk_score_exceeded', notBot: 'risk_score_exceeded', admin: 'risk_score_exceeded' },
  listedAllow:  { baseline: 'allowlisted', 'lowRisk(70)': 'allowlisted', human: 'allowlisted', notBot: 'allowlisted', admin: 'allowlisted' },
  listedDeny:   { baseline: 'denylisted', 'lowRisk(70)': 'denylisted', human: 'denylisted', notBot: 'denylisted', admin: 'denylisted' },
  blocklisted:  { baseline: 'blocklisted', 'lowRisk(70)': 'blocklisted', human: 'blocklisted', notBot: 'blocklisted', admin: 'blocklisted' },
  nonGlobal:    { baseline: 'non_global_ip', 'lowRisk(70)': 'non_global_ip', human: 'non_global_ip', notBot: 'non_global_ip', admin: 'non_global_ip' },
  noIp:         { baseline: U, 'lowRisk(70)': U, human: U, notBot: U, admin: U },
}

/** Operators' decisions made outside the policy: they block even in monitor mode. */
const OPERATOR_BLOCKS: ReadonlySet<DecisionReason> = new Set<DecisionReason>(['denylisted', 'blocklisted'])

/** What a decision must look like for a reason, a fail mode and monitor mode: the rules of `Decision`. */
function expectedDecision(reason: DecisionReason, failMode: FailMode, monitor: boolean) {
  const wouldBlock = BLOCKING.has(reason) || (reason === U && failMode === 'closed')
  const dryRun = monitor && !OPERATOR_BLOCKS.has(reason)
  return {
    action: wouldBlock && !dryRun ? 'block' : 'allow',
    reason,
    wouldBlock,
    monitored: wouldBlock && dryRun,
    failOpen: reason === U && failMode === 'open',
  }
}

function summary(d: Decision) {
  return { action: d.action, reason: d.reason, wouldBlock: d.wouldBlock, monitored: d.monitored, failOpen: d.failOpen }
}

const matrix = (Object.keys(RISKS) as RiskName[]).flatMap((riskName) =>
  (Object.keys(PRESETS) as PresetName[]).map((preset) => ({ riskName, preset, reason: EXPECTED[riskName][preset] })),
)

describe('evaluate: every preset against every representative answer', () => {
  describe.each(['open', 'closed'] as const)('fail mode %s', (failMode) => {
    it.each(matrix)('$preset on $riskName gives $reason', ({ riskName, preset, reason }) => {
      const decision = evaluate(RISKS[riskName], PRESETS[preset], failMode)
      expect(summary(decision)).toEqual(expectedDecision(reason, failMode, false))
      expect(decision.risk).toBe(RISKS[riskName])
      expect(decision.policy).toBe(PRESETS[preset])
    })

    it.each(matrix)('monitored $preset on $riskName reports $reason (allows unless an operator blocked the IP)', ({ riskName, preset, reason }) => {
      const monitored = compilePolicy({ ...PRESETS[preset], monitor: true })
      const decision = evaluate(RISKS[riskName], monitored, failMode)
      expect(decision.action).toBe(OPERATOR_BLOCKS.has(reason) ? 'block' : 'allow')
      expect(summary(decision)).toEqual(expectedDecision(reason, failMode, true))
    })
  })

  it('defaults to fail open when no fail mode is given', () => {
    expect(summary(evaluate(RISKS.unavailable, policies.baseline))).toEqual({
      action: 'allow',
      reason: 'lookup_unavailable',
      wouldBlock: false,
      monitored: false,
      failOpen: true,
    })
  })
})

describe('evaluate: order of checks (first match wins)', () => {
  const everything = compilePolicy({
    threshold: 50,
    blockTor: true,
    blockVpn: true,
    blockProxy: true,
    blockDatacenter: true,
  })
  const worst = { score: 100, isTor: true, isVpn: true, isProxy: true, isDatacenter: true }
  const cases: Array<{ name: string; answer: IpRisk; reason: DecisionReason }> = [
    { name: 'allow list beats a denied, blocklisted-looking, worst answer', answer: risk({ ...worst, listed: 'allow' }), reason: 'allowlisted' },
    { name: 'deny list beats every flag', answer: risk({ ...worst, listed: 'deny' }), reason: 'denylisted' },
    { name: 'blocklist beats every flag', answer: risk({ ...worst, listed: 'blocklist' }), reason: 'blocklisted' },
    { name: 'Tor beats VPN, proxy, datacenter and score', answer: risk(worst), reason: 'tor_exit_node' },
    { name: 'VPN beats proxy, datacenter and score', answer: risk({ ...worst, isTor: false }), reason: 'vpn_detected' },
    { name: 'proxy beats datacenter and score', answer: risk({ ...worst, isTor: false, isVpn: false }), reason: 'proxy_detected' },
    {
      name: 'datacenter beats score',
      answer: risk({ ...worst, isTor: false, isVpn: false, isProxy: false }),
      reason: 'datacenter_ip',
    },
    {
      name: 'score alone',
      answer: risk({ score: 100, isTor: false, isVpn: false, isProxy: false, isDatacenter: false }),
      reason: 'risk_score_exceeded',
    },
    { name: 'nothing matches', answer: risk({ score: 49 }), reason: 'clean' },
  ]
  it.each(cases)('$name → $reason', ({ answer, reason }) => {
    expect(evaluate(answer, everything).reason).toBe(reason)
  })
})

describe('evaluate: boundaries', () => {
  const cases: Array<{ name: string; policy: Readonly<Policy>; answer: IpRisk; reason: DecisionReason }> = [
    { name: 'score exactly at the threshold blocks', policy: policies.lowRisk(70), answer: risk({ score: 70 }), reason: 'risk_score_exceeded' },
    { name: 'score one below the threshold allows', policy: policies.lowRisk(70), answer: risk({ score: 69 }), reason: 'clean' },
    { name: 'fractional score just below the threshold allows', policy: policies.lowRisk(70), answer: risk({ score: 69.9 }), reason: 'clean' },
    { name: 'baseline blocks 90', policy: policies.baseline, answer: risk({ score: 90 }), reason: 'risk_score_exceeded' },
    { name: 'baseline allows 89', policy: policies.baseline, answer: risk({ score: 89 }), reason: 'clean' },
    { name: 'human blocks 80', policy: policies.human, answer: risk({ score: 80 }), reason: 'risk_score_exceeded' },
    { name: 'human allows 79', policy: policies.human, answer: risk({ score: 79 }), reason: 'clean' },
    { name: 'notBot blocks 85', policy: policies.notBot, answer: risk({ score: 85 }), reason: 'risk_score_exceeded' },
    { name: 'notBot allows 84', policy: policies.notBot, answer: risk({ score: 84 }), reason: 'clean' },
    { name: 'notBot allows a datacenter IP at exactly 60 (strictly greater)', policy: policies.notBot, answer: risk({ score: 60, isDatacenter: true }), reason: 'clean' },
    { name: 'notBot blocks a datacenter IP at 61', policy: policies.notBot, answer: risk({ score: 61, isDatacenter: true }), reason: 'datacenter_ip' },
    { name: 'admin allows a datacenter IP at exactly 40', policy: policies.admin, answer: risk({ score: 40, isDatacenter: true }), reason: 'clean' },
    { name: 'admin blocks a datacenter IP at 41', policy: policies.admin, answer: risk({ score: 41, isDatacenter: true }), reason: 'datacenter_ip' },
    { name: 'admin blocks 60', policy: policies.admin, answer: risk({ score: 60 }), reason: 'risk_score_exceeded' },
    { name: 'admin allows 59', policy: policies.admin, answer: risk({ score: 59 }), reason: 'clean' },
    { name: 'threshold 0 blocks score 0', policy: policies.lowRisk(0), answer: risk({ score: 0 }), reason: 'risk_score_exceeded' },
    { name: 'threshold 100 allows 99', policy: policies.lowRisk(100), answer: risk({ score: 99 }), reason: 'clean' },
    { name: 'threshold 100 blocks 100', policy: policies.lowRisk(100), answer: risk({ score: 100 }), reason: 'risk_score_exceeded' },
  ]
  it.each(cases)('$name', ({ policy, answer, reason }) => {
    expect(evaluate(answer, policy).reason).toBe(reason)
  })
})

describe('evaluate: policy fields', () => {
  const cases: Array<{ name: string; policy: Policy; answer: IpRisk; failMode?: FailMode; reason: DecisionReason; action: 'allow' | 'block' }> = [
    { name: 'an empty policy allows the worst scored answer', policy: {}, answer: risk({ score: 100, isTor: true, isVpn: true, isProxy: true, isDatacenter: true }), reason: 'clean', action: 'allow' },
    { name: 'an empty policy still applies the deny list', policy: {}, answer: RISKS.listedDeny, reason: 'denylisted', action: 'block' },
    { name: 'an empty policy applies the fail mode to an unavailable answer', policy: {}, answer: RISKS.unavailable, failMode: 'closed', reason: U, action: 'block' },
    { name: 'blockTor blocks Tor', policy: { blockTor: true }, answer: risk({ isTor: true }), reason: 'tor_exit_node', action: 'block' },
    { name: 'blockTor: false does not block Tor', policy: { blockTor: false }, answer: risk({ isTor: true }), reason: 'clean', action: 'allow' },
    { name: 'blockVpn blocks a VPN', policy: { blockVpn: true }, answer: risk({ isVpn: true }), reason: 'vpn_detected', action: 'block' },
    { name: 'blockProxy blocks a proxy', policy: { blockProxy: true }, answer: risk({ isProxy: true }), reason: 'proxy_detected', action: 'block' },
    { name: 'blockDatacenter blocks any datacenter IP', policy: { blockDatacenter: true }, answer: risk({ score: 0, isDatacenter: true }), reason: 'datacenter_ip', action: 'block' },
    { name: 'blockDatacenter needs no score', policy: { blockDatacenter: true }, answer: risk({ score: null, isDatacenter: true }), failMode: 'closed', reason: 'datacenter_ip', action: 'block' },
    { name: 'blockDatacenter does not block a non-datacenter IP', policy: { blockDatacenter: true }, answer: risk({ score: 99 }), reason: 'clean', action: 'allow' },
    { name: 'datacenterThreshold alone ignores non-datacenter IPs', policy: { datacenterThreshold: 10 }, answer: risk({ score: 99 }), reason: 'clean', action: 'allow' },
    { name: 'datacenterThreshold with a null score on a datacenter IP applies the fail mode', policy: { datacenterThreshold: 10 }, answer: risk({ score: null, isDatacenter: true }), failMode: 'closed', reason: U, action: 'block' },
    { name: 'datacenterThreshold with a null score on a non-datacenter IP is clean', policy: { datacenterThreshold: 10 }, answer: risk({ score: null, isDatacenter: false }), failMode: 'closed', reason: 'clean', action: 'allow' },
    { name: 'null Tor flag never blocks', policy: { blockTor: true }, answer: risk({ isTor: null }), failMode: 'closed', reason: 'clean', action: 'allow' },
    { name: 'null VPN flag never blocks', policy: { blockVpn: true }, answer: risk({ isVpn: null }), failMode: 'closed', reason: 'clean', action: 'allow' },
    { name: 'null proxy flag never blocks', policy: { blockProxy: true }, answer: risk({ isProxy: null }), failMode: 'closed', reason: 'clean', action: 'allow' },
    { name: 'null datacenter flag never blocks', policy: { blockDatacenter: true }, answer: risk({ isDatacenter: null }), failMode: 'closed', reason: 'clean', action: 'allow' },
    { name: 'a flag still blocks when the score is null', policy: { threshold: 50, blockTor: true }, answer: risk({ score: null, isTor: true }), reason: 'tor_exit_node', action: 'block' },
    { name: 'a null score with a threshold fails open by default', policy: { threshold: 50 }, answer: risk({ score: null }), reason: U, action: 'allow' },
    { name: 'a null score with a threshold fails closed when asked', policy: { threshold: 50 }, answer: risk({ score: null }), failMode: 'closed', reason: U, action: 'block' },
    { name: "onUnavailable: 'block' overrides fail mode open", policy: { onUnavailable: 'block' }, answer: RISKS.unavailable, failMode: 'open', reason: U, action: 'block' },
    { name: "onUnavailable: 'allow' overrides fail mode closed", policy: { onUnavailable: 'allow' }, answer: RISKS.unavailable, failMode: 'closed', reason: U, action: 'allow' },
    { name: "onUnavailable: 'block' applies to a null score", policy: { threshold: 50, onUnavailable: 'block' }, answer: risk({ score: null }), reason: U, action: 'block' },
    { name: "onUnavailable: 'block' applies to a pending lookup", policy: { onUnavailable: 'block' }, answer: RISKS.pending, reason: U, action: 'block' },
    { name: "onUnavailable: 'block' applies to a missing client IP", policy: { onUnavailable: 'block' }, answer: RISKS.noIp, reason: U, action: 'block' },
    { name: "onUnavailable: 'block' does not apply to a non-global IP", policy: { onUnavailable: 'block' }, answer: RISKS.nonGlobal, reason: 'non_global_ip', action: 'allow' },
    { name: 'a stale answer reported as unavailable still counts as scored', policy: { threshold: 90 }, answer: risk({ score: 95, status: 'unavailable', source: 'stale', error: 'timeout' }), failMode: 'open', reason: 'risk_score_exceeded', action: 'block' },
    { name: 'a stale clean answer allows without failing open', policy: { threshold: 90 }, answer: risk({ score: 5, source: 'stale', error: 'timeout' }), failMode: 'closed', reason: 'clean', action: 'allow' },
    { name: 'skipped with a global IP and no list entry applies the fail mode', policy: {}, answer: risk({ ...NO_DATA, status: 'skipped', source: 'none' }), failMode: 'closed', reason: U, action: 'block' },
    { name: 'a non-global IP with a blocking flag is still allowed (skipped, never scored)', policy: { blockTor: true }, answer: risk({ ...RISKS.nonGlobal, isTor: true }), reason: 'non_global_ip', action: 'allow' },
  ]
  it.each(cases)('$name', ({ policy, answer, failMode, reason, action }) => {
    const decision = evaluate(answer, compilePolicy(policy), failMode)
    expect(decision.reason).toBe(reason)
    expect(decision.action).toBe(action)
  })

  it('returns the complete decision object', () => {
    const policy = compilePolicy({ name: 'signup', blockVpn: true })
    const answer = risk({ isVpn: true })
    expect(evaluate(answer, policy)).toStrictEqual({
      action: 'block',
      reason: 'vpn_detected',
      wouldBlock: true,
      monitored: false,
      failOpen: false,
      risk: answer,
      policy,
    })
  })

  it('does not modify the risk answer it is given', () => {
    const answer = Object.freeze(risk({ score: 99 }))
    expect(() => evaluate(answer, policies.admin)).not.toThrow()
  })

  it.each([
    { name: 'monitor on a clean answer', answer: RISKS.clean, failMode: 'closed' as const, expected: { action: 'allow', reason: 'clean', wouldBlock: false, monitored: false, failOpen: false } },
    { name: 'monitor with fail open reports failOpen, not monitored', answer: RISKS.unavailable, failMode: 'open' as const, expected: { action: 'allow', reason: U, wouldBlock: false, monitored: false, failOpen: true } },
    { name: 'monitor with fail closed allows and reports the would-block', answer: RISKS.unavailable, failMode: 'closed' as const, expected: { action: 'allow', reason: U, wouldBlock: true, monitored: true, failOpen: false } },
    { name: 'monitor on the deny list still blocks: lists win over monitor mode', answer: RISKS.listedDeny, failMode: 'open' as const, expected: { action: 'block', reason: 'denylisted', wouldBlock: true, monitored: false, failOpen: false } },
    { name: 'monitor on the blocklist still blocks: an operator block wins over monitor mode', answer: RISKS.blocklisted, failMode: 'open' as const, expected: { action: 'block', reason: 'blocklisted', wouldBlock: true, monitored: false, failOpen: false } },
  ])('$name', ({ answer, failMode, expected }) => {
    const monitored = compilePolicy({ threshold: 50, monitor: true })
    expect(summary(evaluate(answer, monitored, failMode))).toEqual(expected)
  })
})

describe('compilePolicy', () => {
  const errors: Array<{ name: string; policy: unknown; optionName?: string; option: string; message: RegExp }> = [
    { name: 'threshold above 100', policy: { threshold: 101 }, option: 'policy.threshold', message: /from 0 to 100, got 101/ },
    { name: 'negative threshold', policy: { threshold: -1 }, option: 'policy.threshold', message: /got -1/ },
    { name: 'NaN threshold', policy: { threshold: Number.NaN }, option: 'policy.threshold', message: /got NaN/ },
    { name: 'infinite threshold', policy: { threshold: Number.POSITIVE_INFINITY }, option: 'policy.threshold', message: /got Infinity/ },
    { name: 'threshold as a string', policy: { threshold: '70' }, option: 'policy.threshold', message: /got the string "70"/ },
    { name: 'misspelt key', policy: { treshold: 70 }, option: 'policy.treshold', message: /unknown policy field.*threshold/ },
    { name: 'onUnavailable not allow/block', policy: { onUnavailable: 'maybe' }, option: 'policy.onUnavailable', message: /'allow' or 'block', got the string "maybe"/ },
    { name: 'flag not a boolean', policy: { blockTor: 'yes' }, option: 'policy.blockTor', message: /true or false/ },
    { name: 'monitor not a boolean', policy: { monitor: 1 }, option: 'policy.monitor', message: /true or false, got 1/ },
    { name: 'datacenterThreshold above 100', policy: { datacenterThreshold: 150 }, option: 'policy.datacenterThreshold', message: /from 0 to 100/ },
    { name: 'empty name', policy: { name: '' }, option: 'policy.name', message: /must not be empty/ },
    { name: 'name not a string', policy: { name: 7 }, option: 'policy.name', message: /must be a string/ },
    { name: 'null instead of a policy', policy: null, option: 'policy', message: /must be an object/ },
    { name: 'an array instead of a policy', policy: [], option: 'policy', message: /must be an object/ },
    { name: 'the option name is prefixed', policy: { threshold: 101 }, optionName: 'routes.login', option: 'routes.login.threshold', message: /from 0 to 100/ },
  ]
  it.each(errors)('rejects $name naming `$option`', ({ policy, optionName, option, message }) => {
    let thrown: unknown
    try {
      compilePolicy(policy as Policy, optionName)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(IpRiskConfigError)
    const error = thrown as IpRiskConfigError
    expect(error.option).toBe(option)
    expect(error.message).toContain(`invalid option \`${option}\``)
    expect(error.message).toMatch(message)
  })

  it('returns a frozen copy holding only the fields that were set', () => {
    const input: Policy = { name: 'login', threshold: 75, blockVpn: undefined, monitor: false }
    const compiled = compilePolicy(input)
    expect(compiled).not.toBe(input)
    expect(compiled).toStrictEqual({ name: 'login', threshold: 75, monitor: false })
    expect(Object.isFrozen(compiled)).toBe(true)
  })

  it('is not affected by later changes to the input', () => {
    const input: Policy = { threshold: 75 }
    const compiled = compilePolicy(input)
    input.threshold = 10
    expect(compiled.threshold).toBe(75)
  })

  it('returns an already compiled policy as is', () => {
    const compiled = compilePolicy({ threshold: 75 })
    expect(compilePolicy(compiled)).toBe(compiled)
    expect(compilePolicy(policies.admin)).toBe(policies.admin)
  })

  it('compiles a frozen but uncompiled policy into a new object after validating it', () => {
    const frozen = Object.freeze({ threshold: 101 }) as Policy
    expect(() => compilePolicy(frozen)).toThrow(IpRiskConfigError)
  })

  it('accepts every field at its limits', () => {
    const all: Policy = {
      name: 'x'.repeat(100),
      threshold: 0,
      blockTor: true,
      blockVpn: false,
      blockProxy: true,
      blockDatacenter: false,
      datacenterThreshold: 100,
      onUnavailable: 'block',
      monitor: true,
    }
    expect(compilePolicy(all)).toStrictEqual(all)
  })

  it('rejects a name longer than 100 characters', () => {
    expect(() => compilePolicy({ name: 'x'.repeat(101) })).toThrow(/`policy.name`: must be at most 100 characters/)
  })
})

describe('policies (presets)', () => {
  it.each([
    { preset: 'baseline', policy: policies.baseline, rules: { name: 'baseline', threshold: 90 } },
    { preset: 'lowRisk()', policy: policies.lowRisk(), rules: { name: 'lowRisk(70)', threshold: 70 } },
    { preset: 'lowRisk(75)', policy: policies.lowRisk(75), rules: { name: 'lowRisk(75)', threshold: 75 } },
    { preset: 'human', policy: policies.human, rules: { name: 'human', threshold: 80, blockTor: true } },
    {
      preset: 'notBot',
      policy: policies.notBot,
      rules: { name: 'notBot', threshold: 85, blockTor: true, datacenterThreshold: 60 },
    },
    {
      preset: 'admin',
      policy: policies.admin,
      rules: { name: 'admin', threshold: 60, blockTor: true, blockVpn: true, datacenterThreshold: 40 },
    },
  ])('$preset is compiled, frozen and carries exactly its rules', ({ policy, rules }) => {
    expect(policy).toStrictEqual(rules)
    expect(Object.isFrozen(policy)).toBe(true)
    expect(compilePolicy(policy)).toBe(policy)
  })

  it('the preset table itself is frozen', () => {
    expect(Object.isFrozen(policies)).toBe(true)
  })

  it.each([
    { threshold: 101, message: /got 101/ },
    { threshold: -5, message: /got -5/ },
    { threshold: Number.NaN, message: /got NaN/ },
    { threshold: '70', message: /got the string "70"/ },
  ])('lowRisk($threshold) throws naming `policies.lowRisk.threshold`', ({ threshold, message }) => {
    expect(() => policies.lowRisk(threshold as number)).toThrow(IpRiskConfigError)
    expect(() => policies.lowRisk(threshold as number)).toThrow(/invalid option `policies\.lowRisk\.threshold`/)
    expect(() => policies.lowRisk(threshold as number)).toThrow(message)
  })
})

describe('failMode: one fail-mode vocabulary (onUnavailable is its deprecated alias)', () => {
  const U = 'lookup_unavailable'
  it.each([
    { name: "failMode 'closed' blocks when no verdict can be had, whatever the resolver's", policy: { failMode: 'closed' }, resolver: 'open', action: 'block', failOpen: false },
    { name: "failMode 'open' allows (failOpen) whatever the resolver's", policy: { failMode: 'open' }, resolver: 'closed', action: 'allow', failOpen: true },
    { name: "deprecated onUnavailable 'block' still means closed", policy: { onUnavailable: 'block' }, resolver: 'open', action: 'block', failOpen: false },
    { name: "deprecated onUnavailable 'allow' still means open", policy: { onUnavailable: 'allow' }, resolver: 'closed', action: 'allow', failOpen: true },
    { name: 'no fail mode on the policy: the resolver decides', policy: {}, resolver: 'closed', action: 'block', failOpen: false },
  ] satisfies Array<{ name: string; policy: Policy; resolver: FailMode; action: 'allow' | 'block'; failOpen: boolean }>)(
    '$name',
    ({ policy, resolver, action, failOpen }) => {
      const decision = evaluate(RISKS.unavailable, compilePolicy(policy), resolver)
      expect({ action: decision.action, reason: decision.reason, failOpen: decision.failOpen }).toEqual({ action, reason: U, failOpen })
    },
  )

  it.each([
    { name: 'a failMode that is not open/closed', policy: { failMode: 'allow' }, option: 'policy.failMode', message: /'open' or 'closed', got the string "allow"/ },
    { name: 'both failMode and its deprecated alias', policy: { failMode: 'open', onUnavailable: 'allow' }, option: 'policy.onUnavailable', message: /set only `failMode`/ },
  ])('rejects $name', ({ policy, option, message }) => {
    const error = configError(() => compilePolicy(policy as Policy))
    expect(error.option).toBe(option)
    expect(error.message).toMatch(message)
  })
})

describe('compilePolicy with an adapter’s defaults (monitor, failMode)', () => {
  it('fills in the fail mode of a policy that has none, and forces monitor mode', () => {
    expect(compilePolicy({ threshold: 70 }, 'policy', { monitor: true, failMode: 'closed' })).toStrictEqual({
      threshold: 70,
      failMode: 'closed',
      monitor: true,
    })
  })

  it.each([
    { name: 'its own failMode', policy: { failMode: 'open' } },
    { name: 'its deprecated onUnavailable', policy: { onUnavailable: 'allow' } },
  ] satisfies Array<{ name: string; policy: Policy }>)("keeps a policy's $name over the adapter's failMode", ({ policy }) => {
    const compiled = compilePolicy(policy, 'policy', { failMode: 'closed' })
    expect(evaluate(RISKS.unavailable, compiled, 'closed').action).toBe('allow')
  })

  it('returns the compiled policy itself when the defaults change nothing (presets keep their identity)', () => {
    expect(compilePolicy(policies.human, 'x', { monitor: false, failMode: undefined })).toBe(policies.human)
    const own = compilePolicy({ threshold: 10, failMode: 'open', monitor: true })
    expect(compilePolicy(own, 'x', { monitor: true, failMode: 'closed' })).toBe(own)
  })

  it('names the option in errors', () => {
    expect(() => compilePolicy({ threshold: 300 }, 'riskGate', { monitor: true })).toThrow(
      expect.objectContaining({ option: 'riskGate.threshold' }),
    )
  })
})
