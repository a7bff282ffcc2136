// host-sim/src/nvs.ts
// Writes an ESP-IDF NVS partition CSV (the input of nvs_partition_gen.py) that gives the firmware the
// same identity and credentials a kubeconfig gives the host-sim. Format: header `key,type,encoding,value`,
// a `namespace` row first, no spaces around commas, no blank lines (the generator skips `#` lines only),
// keys of at most 15 characters, string values at most 4000 bytes. PEMs are written as files next to the
// CSV and referenced as `file,string,<absolute path>`. Only a node identity or a bootstrap token is written
// (provision.ts): an admin or system:masters credential, or a token nobody vouched for, is refused before
// any file exists. A CSV holding a secret (token, bootstrap token, Wi-Fi passphrase) is mode 0600.
import fs from 'node:fs';
import path from 'node:path';
import type { Credentials } from './credentials.js';
import { checkNodeIdentity } from './provision.js';

/** The namespace the firmware reads. */
export const NVS_NAMESPACE = 'kubelet';
/** NVS limits (ESP-IDF nvs_flash). */
export const NVS_KEY_MAX = 15;
export const NVS_STRING_MAX = 4000;

export interface NvsInput {
  name: string;
  credentials: Credentials;
  wifiSsid?: string;
  wifiPsk?: string;
  /** Write a bearer token (whose identity cannot be checked offline); default false: refused. */
  allowToken?: boolean;
}

export interface NvsOutput {
  csv: string;
  files: string[];
}

/** Writes `<outDir>/<name>.nvs.csv` and its PEM files; returns their paths. */
export function writeNvsCsv(input: NvsInput, outDir: string): NvsOutput {
  checkNodeIdentity(input.credentials, input.name, input.allowToken === true);
  const dir = path.resolve(outDir);
  fs.mkdirSync(dir, { recursive: true });
  const c = input.credentials;
  const rows: Array<[key: string, type: 'data' | 'file', encoding: string, value: string]> = [];
  const files: string[] = [];
  const pem = (key: string, suffix: string, bytes: Buffer | string | undefined): void => {
    if (bytes === undefined) return;
    const text = Buffer.isBuffer(bytes) ? bytes.toString('utf8') : bytes;
    if (Buffer.byteLength(text) + 1 > NVS_STRING_MAX) throw new Error(`${key}: ${Buffer.byteLength(text)} bytes exceed the NVS string limit of ${NVS_STRING_MAX - 1}`);
    const file = path.join(dir, `${input.name}.${suffix}`);
    fs.writeFileSync(file, text, { mode: suffix.endsWith('key.pem') ? 0o600 : 0o644 });
    files.push(file);
    rows.push([key, 'file', 'string', file]);
  };
  const str = (key: string, value: string | undefined): void => {
    if (value === undefined) return;
    if (Buffer.byteLength(value) + 1 > NVS_STRING_MAX) throw new Error(`${key} is longer than the NVS string limit`);
    rows.push([key, 'data', 'string', value]);
  };
  str('node_name', input.name);
  str('api_host', c.apiHost);
  rows.push(['api_port', 'data', 'u16', String(c.apiPort)]);
  str('server_name', c.serverName);
  str('token', c.token);
  str('bootstrap_token', c.bootstrapToken);
  pem('ca_pem', 'ca.pem', c.tls.ca);
  pem('client_cert', 'client-cert.pem', c.tls.cert);
  pem('client_key', 'client-key.pem', c.tls.key);
  str('wifi_ssid', input.wifiSsid);
  str('wifi_psk', input.wifiPsk);
  for (const [k] of rows) if (k.length > NVS_KEY_MAX) throw new Error(`NVS key ${k} is longer than ${NVS_KEY_MAX} characters`);
  const lines = ['key,type,encoding,value', `${NVS_NAMESPACE},namespace,,`, ...rows.map((r) => r.map(csvField).join(','))];
  const csv = path.join(dir, `${input.name}.nvs.csv`);
  fs.writeFileSync(csv, lines.join('\n') + '\n', { mode: c.token !== undefined || c.bootstrapToken !== undefined || input.wifiPsk !== undefined ? 0o600 : 0o644 });
  return { csv, files };
}

/** A CSV field, quoted (RFC 4180) only when it must be. */
export function csvField(v: string): string {
  if (/[\r\n]/.test(v)) throw new Error('an NVS CSV value cannot contain a line break');
  return /[",]/.test(v) || v !== v.trim() || v.startsWith('#') ? `"${v.replace(/"/g, '""')}"` : v;
}
