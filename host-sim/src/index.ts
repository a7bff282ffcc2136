// host-sim/src/index.ts
// The public API of host-sim for node:test suites and scripts: start nodes and racks in-process, drive
// them (heap, link, faults) and read their stats. Everything else is internal.
export * as abi from './abi.js';
export { Phase, Led, Stat, Close, ErrorCode, nameOf } from './abi.js';
export { startNode, SimNode, StartError, systemTimers } from './node.js';
export type { BrainOptions, BrainState, NodeOptions, NodeStats, TraceEvent } from './node.js';
export { startRack, Rack, ipPlus } from './rack.js';
export type { RackOptions } from './rack.js';
export { loadCredentials, loadBootstrapCredentials, bootstrapUser, preflight, parseServer } from './credentials.js';
export { CredentialsError, UsageError } from './errors.js';
export type { Credentials, CredentialOptions, Preflight } from './credentials.js';
export { parseCommand, runCommand, serveControl, sendControl, COMMANDS_HELP } from './control.js';
export type { Command, Controllable, ControlServer } from './control.js';
export { loadScenario, parseScenario, parseAtFlag, scheduleTimeline } from './scenario.js';
export type { Scenario, TimelineStep } from './scenario.js';
export { ledColor, ledFrame, breathe, LED_TIMINGS, LED_CAP } from './led/render.js';
export type { Rgb, LedState } from './led/render.js';
export { heapFree, parseHeapSpec, HEAP_TOTAL_BYTES } from './body/heap.js';
export type { HeapSpec } from './body/heap.js';
export { parseLinkSpec } from './body/link.js';
export { Logger, silentLogger } from './logger.js';
export type { Level, LogRecord } from './logger.js';
export { SystemTimers, ManualTimers } from './timers.js';
export type { TimerService, Timer } from './timers.js';
export { tlsTransport } from './transport/tls.js';
export type { TlsSettings } from './transport/tls.js';
export type { Transport, TransportFactory, TransportSink } from './transport/transport.js';
export { writeNvsCsv, csvField } from './nvs.js';
export { compileCore, resolveWasmPath, repoRoot, CoreInstance, ModuleError } from './runtime.js';
export { main } from './cli.js';
