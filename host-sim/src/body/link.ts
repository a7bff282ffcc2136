// host-sim/src/body/link.ts
// A simulated network link: Ethernet or Wi-Fi with an IP address (and for Wi-Fi a BSSID and RSSI), or
// down. Spec strings: `ethernet[:ip=A.B.C.D]`, `wifi[:ip=...,bssid=aa:bb:cc:dd:ee:ff,rssi=-60]`, `down`.
import { Link, LinkKind, bssidToI64, ipv4ToI32 } from '../abi.js';
import { splitOnce } from '../util.js';

export interface LinkSpec {
  kind: 'ethernet' | 'wifi';
  ip: string;
  /** Wi-Fi only: the access point. */
  bssid: string;
  /** Wi-Fi only: dBm. */
  rssi: number;
}

/** A parsed `--link` value: the link to bring up, and whether it starts down. */
export interface LinkStart {
  spec: LinkSpec;
  up: boolean;
}

export const DEFAULT_BSSID = '02:00:5e:10:00:01';

/** Parses a link spec; `base` supplies the fields the text leaves out (for example the node's IP). */
export function parseLinkSpec(text: string, base: LinkSpec): LinkStart {
  const [kind, params = ''] = splitOnce(text.trim(), ':');
  if (kind === 'down') {
    if (params) throw new Error("link 'down' takes no parameters");
    return { spec: base, up: false };
  }
  if (kind !== 'ethernet' && kind !== 'wifi') throw new Error(`unknown link kind '${kind}' (ethernet, wifi, down)`);
  const spec: LinkSpec = { ...base, kind };
  for (const kv of params.split(',').filter(Boolean)) {
    const [k, v = ''] = splitOnce(kv, '=');
    if (k === 'ip') {
      ipv4ToI32(v);
      spec.ip = v;
    } else if (k === 'bssid') {
      bssidToI64(v);
      spec.bssid = v.toLowerCase();
    } else if (k === 'rssi') {
      const n = Number(v);
      if (!Number.isInteger(n) || n > 0 || n < -127) throw new Error(`rssi must be an integer dBm in -127..0, got '${v}'`);
      spec.rssi = n;
    } else {
      throw new Error(`unknown link parameter '${k}' (ip, bssid, rssi)`);
    }
  }
  if (spec.kind === 'ethernet' && params.match(/(^|,)(bssid|rssi)=/)) throw new Error('bssid and rssi apply to wifi links only');
  return { spec, up: true };
}

/** The `on_link` arguments for a link that is up (`up` false gives LINK_DOWN). */
export function linkArgs(spec: LinkSpec, up: boolean): { kind: LinkKind; ipv4: number; bssid: bigint; rssi: number } {
  if (!up) return { kind: Link.DOWN, ipv4: 0, bssid: 0n, rssi: 0 };
  if (spec.kind === 'ethernet') return { kind: Link.ETHERNET, ipv4: ipv4ToI32(spec.ip), bssid: 0n, rssi: 0 };
  return { kind: Link.WIFI, ipv4: ipv4ToI32(spec.ip), bssid: bssidToI64(spec.bssid), rssi: spec.rssi };
}

/** A short description for logs and stats. */
export function describeLink(spec: LinkSpec, up: boolean): string {
  if (!up) return 'down';
  return spec.kind === 'ethernet' ? `ethernet ${spec.ip}` : `wifi ${spec.ip} bssid ${spec.bssid} rssi ${spec.rssi} dBm`;
}
