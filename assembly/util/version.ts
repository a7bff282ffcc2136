/**
 * How the module names itself on the wire. The literal repeats package.json's version on purpose:
 * AssemblyScript cannot fold string concatenation at compile time, and a lazily built global costs bytes.
 */

/** User-Agent of every request; the API server derives our field manager name from it. */
export const USER_AGENT = "picokubelet/0.1.0 (esp32-s3; wasm)";
