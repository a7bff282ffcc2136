/**
 * as-pect 8.1.0 configuration for the core's unit specs (tests/core/*.spec.ts).
 *
 * The core imports host functions from module "picokubelet" (assembly/abi/imports.ts). The specs run
 * without a host, so those imports are recorded here and exposed on globalThis.__pk for debugging; specs
 * assert through the core's own state, not through these recordings.
 */
const recorded = { logs: [], leds: [], sends: 0, connects: 0, closes: 0 };
globalThis.__pk = recorded;

export default {
  entries: ["tests/core/**/*.spec.ts"],
  include: ["tests/core/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    let instance;
    const myImports = {
      env: { memory },
      picokubelet: {
        connect() { recorded.connects++; },
        send() { recorded.sends++; },
        close() { recorded.closes++; },
        led(p) { recorded.leds.push(p); },
        log(level, ptr, len) {
          const bytes = new Uint8Array(instance.exports.memory.buffer, ptr, len);
          const line = new TextDecoder().decode(bytes);
          recorded.logs.push(line);
          if (process.env.PK_SPEC_LOG) console.log(`[core ${level}] ${line}`);
        },
      },
    };
    instance = instantiate(binary, createImports(myImports));
    return instance;
  },
  outputBinary: false,
};
