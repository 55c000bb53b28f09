/**
 * `iprisk/testing`: tools for your own tests. A local IPASIS-compatible HTTP simulator (both API styles, profiles,
 * latency, faults, counters) and an in-process memory provider.
 *
 * @example
 * ```ts
 * import { startIpasisSimulator, createMemoryProvider } from 'iprisk/testing'
 * ```
 *
 * @module
 */
export {
  hashProfile,
  simulatorProfiles,
  startIpasisSimulator,
  type IpasisSimulator,
  type IpasisSimulatorOptions,
  type SimulatorFault,
  type SimulatorFaultOptions,
  type SimulatorLatency,
  type SimulatorProfile,
  type SimulatorProfileFn,
  type SimulatorProfileName,
  type SimulatorRequest,
} from './simulator.js'
export {
  createMemoryProvider,
  type MemoryProfile,
  type MemoryProvider,
  type MemoryProviderOptions,
  type MemoryProviderSource,
} from './memory.js'
export { createTestClock, type TestClock } from './clock.js'
