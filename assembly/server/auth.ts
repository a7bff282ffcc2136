/**
 * The kubelet port's memory of what the API server said: which bearer tokens belong to whom, and which
 * identity may do what on this node (the kubelet's webhook caches: authenticated tokens for 2 minutes,
 * allowed requests for 5, denied ones for 30 s). Both are small and bounded; a full cache forgets the
 * entry that expires first. Tokens are kept whole and compared whole, never by a hash that a client could
 * collide with, and never logged.
 */
import { Identity } from "./reviews";

export const TOKEN_TTL_MS: i64 = 120_000;
export const TOKEN_REFUSED_TTL_MS: i64 = 10_000;
export const ALLOWED_TTL_MS: i64 = 300_000;
export const DENIED_TTL_MS: i64 = 30_000;
const TOKENS = 4;
const DECISIONS = 16;

class Expiring {
  constructor(public expires: i64) {}
}

class TokenEntry extends Expiring {
  constructor(public token: string, public identity: Identity | null, expires: i64) {
    super(expires);
  }
}

export class DecisionEntry extends Expiring {
  constructor(public key: string, public allowed: bool, public reason: string, expires: i64) {
    super(expires);
  }
}

/** A cached token: `identity` null when the API server said the token is not valid. */
export class CachedToken {
  constructor(public identity: Identity | null) {}
}

export class AuthCache {
  private tokens: TokenEntry[] = [];
  private decisions: DecisionEntry[] = [];
  hits: i64 = 0;

  /** What the API server said of `token` lately, or null when it must be asked. */
  token(now: i64, token: string): CachedToken | null {
    for (let i = 0; i < this.tokens.length; i++) {
      const e = this.tokens[i];
      if (e.expires > now && e.token == token) {
        this.hits++;
        return new CachedToken(e.identity);
      }
    }
    return null;
  }

  rememberToken(now: i64, token: string, identity: Identity | null): void {
    const e = new TokenEntry(token, identity, now + (identity !== null ? TOKEN_TTL_MS : TOKEN_REFUSED_TTL_MS));
    const slot = replaceable<TokenEntry>(this.tokens, now, TOKENS);
    if (slot < 0) this.tokens.push(e);
    else this.tokens[slot] = e;
  }

  /** The decision for `key` (decisionKey), or null. */
  decision(now: i64, key: string): DecisionEntry | null {
    for (let i = 0; i < this.decisions.length; i++) {
      const e = this.decisions[i];
      if (e.expires > now && e.key == key) {
        this.hits++;
        return e;
      }
    }
    return null;
  }

  rememberDecision(now: i64, key: string, allowed: bool, reason: string): void {
    const e = new DecisionEntry(key, allowed, reason, now + (allowed ? ALLOWED_TTL_MS : DENIED_TTL_MS));
    const slot = replaceable<DecisionEntry>(this.decisions, now, DECISIONS);
    if (slot < 0) this.decisions.push(e);
    else this.decisions[slot] = e;
  }

  clear(): void {
    this.tokens.length = 0;
    this.decisions.length = 0;
  }
}

/** The key of one authorization question: who (user, groups) may do what (verb, subresource). */
export function decisionKey(id: Identity, verb: string, subresource: string): string {
  let k = id.user + "\n" + verb + "\n" + subresource;
  for (let i = 0; i < id.groups.length; i++) k += "\n" + id.groups[i];
  return k;
}

/** The index to overwrite (an expired entry, else the one expiring first), or -1 to append while there is room. */
function replaceable<T extends Expiring>(list: T[], now: i64, cap: i32): i32 {
  let best = -1;
  let bestAt: i64 = 0;
  for (let i = 0; i < list.length; i++) {
    const at = list[i].expires;
    if (at <= now) return i;
    if (best < 0 || at < bestAt) {
      best = i;
      bestAt = at;
    }
  }
  return list.length < cap ? -1 : best;
}
