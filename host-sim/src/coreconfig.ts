// host-sim/src/coreconfig.ts
// The configuration document a node hands its core (assembly/ABI.md "Configuration document"). The host
// only fills in what it knows (name, where the API server is, the token, labels, log level) and passes
// anything else through untouched: the core validates every key and refuses unknown ones.
import type { Credentials } from './credentials.js';
import type { Level } from './logger.js';

export interface CoreConfigInput {
  name: string;
  credentials: Credentials;
  labels?: Record<string, string>;
  logLevel?: Level;
  /** Further keys, passed through (for example `renewIntervalMs`). */
  extra?: Record<string, unknown>;
}

/** The document as an object (it holds the token: never log it). */
export function coreConfig(input: CoreConfigInput): Record<string, unknown> {
  const c = input.credentials;
  const doc: Record<string, unknown> = {
    nodeName: input.name,
    apiHost: c.apiHost,
    apiPort: c.apiPort,
  };
  if (c.serverName !== c.apiHost) doc.serverName = c.serverName;
  if (c.token !== undefined) doc.token = c.token;
  else if (c.bootstrapToken !== undefined) doc.bootstrapToken = c.bootstrapToken;
  if (input.labels && Object.keys(input.labels).length > 0) doc.labels = input.labels;
  if (input.logLevel) doc.logLevel = input.logLevel;
  return { ...doc, ...input.extra };
}

/** The document as UTF-8 bytes. */
export function coreConfigBytes(input: CoreConfigInput): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(coreConfig(input)));
}
