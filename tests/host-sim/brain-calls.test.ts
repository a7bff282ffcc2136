// tests/host-sim/brain-calls.test.ts
// host-sim's brain host calls op by op (docs/brain.md "Store and verify"): OP_BRAIN_WRITE's offsets and
// the slot's size (synchronous, -ERR_HOST_CALL_INVALID / -ERR_HOST_CALL_FAILED, brain-next.wasm under a
// state directory), every OP_BRAIN_COMMIT refusal in the contract's order with a real Ed25519 key,
// OP_BRAIN_STATUS's lines, the swap bookkeeping (which brain is gone back to), the proven brain's files,
// --brain-public-key files, and --registry-ca for PROFILE_PUBLIC connections.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Close, ErrorCode, HostOp, Profile } from '../../host-sim/src/abi.js';
import { rawPublic } from '../../host-sim/src/brain.js';
import { BrainCalls } from '../../host-sim/src/brain/calls.js';
import { BrainSlot, NEXT_FILE } from '../../host-sim/src/brain/slot.js';
import { CURRENT_JSON, CURRENT_WASM, loadProven, saveProven } from '../../host-sim/src/brain/store.js';
import { BrainKeeper } from '../../host-sim/src/brain/swap.js';
import { loadBrainPublicKeys, parseCommit } from '../../host-sim/src/brain/verify.js';
import { ManualTimers } from '../../host-sim/src/timers.js';
import { tlsTransport } from '../../host-sim/src/transport/tls.js';
import { FakeApiServer, type FakeTlsServer, listenTls } from '../support/fake-apiserver.js';
import { commitFor, releaseWasm, withVersion } from './support/brains.js';
import { testPki, tmpDir, until } from './support/harness.js';

const INVALID = -ErrorCode.HOST_CALL_INVALID;

describe('OP_BRAIN_WRITE: in order, within the slot, completed inside host_call', () => {
  it('offset 0 starts an image; each next offset is the bytes written so far; the slot size is the limit', () => {
    const slot = new BrainSlot(10);
    assert.equal(slot.write(3, Buffer.from('abc')), INVALID, 'nothing started: only offset 0');
    assert.equal(slot.write(0, Buffer.from('abcd')), 0);
    assert.equal(slot.write(3, Buffer.from('x')), INVALID, 'behind the bytes written');
    assert.equal(slot.write(5, Buffer.from('x')), INVALID, 'a gap');
    assert.equal(slot.write(-1, Buffer.from('x')), INVALID);
    assert.equal(slot.write(4, Buffer.from('efgh')), 0);
    assert.equal(slot.write(8, Buffer.from('ijk')), INVALID, 'would pass the 10-byte slot');
    assert.equal(slot.written, 8, 'a refused chunk stores nothing');
    assert.equal(slot.write(8, Buffer.from('ij')), 0, 'exactly the slot size');
    assert.equal(slot.image().toString(), 'abcdefghij');
    assert.equal(slot.write(0, Buffer.from('new')), 0, 'offset 0 again: a new image');
    assert.equal(slot.image().toString(), 'new');
    assert.equal(new BrainSlot().size, 1024 * 1024, 'host-sim slots are 1 MiB');
  });

  it('under a state directory the image is DIR/brain-next.wasm (0600); an I/O error is -ERR_HOST_CALL_FAILED', () => {
    const dir = path.join(tmpDir('brain-slot'), 'state');
    const slot = new BrainSlot(1024, dir);
    assert.equal(slot.write(0, Buffer.from('hello ')), 0);
    assert.equal(slot.write(6, Buffer.from('world')), 0);
    const file = path.join(dir, NEXT_FILE);
    assert.equal(fs.readFileSync(file, 'utf8'), 'hello world');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(slot.write(0, Buffer.from('x')), 0);
    assert.equal(fs.readFileSync(file, 'utf8'), 'x', 'offset 0 truncates');
    const blocked = tmpDir('brain-slot-file');
    const notADir = path.join(blocked, 'plain');
    fs.writeFileSync(notADir, '');
    const why: string[] = [];
    const bad = new BrainSlot(1024, notADir);
    assert.equal(bad.write(0, Buffer.from('x'), (w) => why.push(w)), -ErrorCode.HOST_CALL_FAILED);
    assert.match(why.join(), /cannot write .*plain\/brain-next\.wasm/);
  });
});

describe('OP_BRAIN_COMMIT: the checks in the contract\'s order, OP_BRAIN_STATUS', () => {
  const key = crypto.generateKeyPairSync('ed25519');
  const stranger = crypto.generateKeyPairSync('ed25519');
  let wasm: Buffer;

  before(() => {
    wasm = withVersion(releaseWasm(), '0.2.0');
  });

  /** A handler with the trusted keys, the image written in 4 KiB chunks through op 6, then op 7. */
  function commit(image: Buffer, bytes: Buffer, keys = [key.publicKey], written = image.length) {
    const logs: string[] = [];
    const calls = new BrainCalls(new BrainSlot(), keys, new BrainKeeper({ module: new WebAssembly.Module(new Uint8Array(wasm)), digest: null }), (_l, line) => logs.push(line));
    for (let off = 0; off < written; off += 4096) {
      assert.equal(calls.call(HostOp.BRAIN_WRITE, off, image.subarray(off, Math.min(off + 4096, written))).rc, 0, `write at ${off}`);
    }
    const out = calls.call(HostOp.BRAIN_COMMIT, 0, bytes);
    return { out, logs, calls };
  }

  function refused(image: Buffer, bytes: Buffer, reason: RegExp, keys = [key.publicKey], written = image.length): string {
    const { out } = commit(image, bytes, keys, written);
    assert.equal(out.rc, 0, 'a commit is accepted and answered with on_host_result');
    assert.equal(out.result?.status, ErrorCode.HOST_CALL_FAILED);
    assert.equal(out.result?.swap, undefined, 'nothing to swap to');
    assert.match(out.result!.data, reason);
    return out.result!.data;
  }

  it('a brain that passes every check: status 0, no bytes, and the module to swap to', () => {
    const c = commitFor(wasm, { key: key.privateKey });
    const { out, logs } = commit(wasm, c.bytes);
    assert.equal(out.rc, 0);
    assert.equal(out.result?.status, 0);
    assert.equal(out.result?.data, '');
    assert.equal(out.result?.swap?.commit.digest, c.digest);
    assert.ok(out.result?.swap?.module instanceof WebAssembly.Module);
    assert.ok(out.result?.swap?.image.equals(wasm));
    assert.match(logs.join('\n'), new RegExp(`${c.digest} \\(version 0\\.2\\.0, ABI 2, ${wasm.length} bytes, for pod uid-brain-1\\) verified`));
  });

  it('BrainIncomplete: fewer bytes written than the manifest says', () => {
    const c = commitFor(wasm, { key: key.privateKey });
    assert.equal(refused(wasm, c.bytes, /^BrainIncomplete: /, undefined, 8192),
      `BrainIncomplete: the host holds 8192 bytes of the image, the manifest says ${wasm.length}`);
  });

  it('BrainDigestMismatch: the manifest bytes are not the digest; the image is not the layer', () => {
    const other = 'sha256:' + 'ab'.repeat(32);
    refused(wasm, commitFor(wasm, { key: key.privateKey, tamper: (l) => (l.digest = other) }).bytes,
      new RegExp(`^BrainDigestMismatch: the manifest's bytes are sha256:[0-9a-f]{64}, not ${other}$`));
    const flipped = Buffer.from(wasm);
    flipped[flipped.length - 1] ^= 1;
    refused(flipped, commitFor(wasm, { key: key.privateKey }).bytes, /^BrainDigestMismatch: the image's bytes are sha256:[0-9a-f]{64}, not the layer sha256:/);
  });

  it('BrainUnsigned, BrainUntrusted (no key configured), BrainBadSignature (a stranger\'s key, a changed version)', () => {
    refused(wasm, commitFor(wasm).bytes, /^BrainUnsigned: sha256:[0-9a-f]{64} carries no signature/);
    refused(wasm, commitFor(wasm, { key: key.privateKey }).bytes, /^BrainUntrusted: this host trusts no brain key \(picokubelet-sim --brain-public-key FILE\)$/, []);
    refused(wasm, commitFor(wasm, { key: stranger.privateKey }).bytes, /^BrainBadSignature: the signature \(key id [0-9a-f]{16}\) verifies with none of the 1 key\(s\)/);
    // The signature covers the version: another version in the commit line breaks it.
    refused(wasm, commitFor(wasm, { key: key.privateKey, tamper: (l) => (l.version = '9.9.9') }).bytes, /^BrainBadSignature: /);
    // Two trusted keys: the second one signs.
    assert.equal(commit(wasm, commitFor(wasm, { key: key.privateKey }).bytes, [stranger.publicKey, key.publicKey]).out.result?.status, 0);
  });

  it('BrainAbiUnsupported: signed for an ABI this host does not run', () => {
    refused(wasm, commitFor(wasm, { key: key.privateKey, abi: 3 }).bytes, /^BrainAbiUnsupported: the brain speaks ABI 3; this host runs 2$/);
  });

  it('BrainInvalidModule: does not compile, lacks the core\'s exports, or is another ABI than signed', () => {
    const junk = Buffer.from('this is not webassembly');
    refused(junk, commitFor(junk, { key: key.privateKey, abi: 2 }).bytes, /^BrainInvalidModule: it does not compile: /);
    // The smallest valid module: a header and nothing else.
    const empty = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    refused(empty, commitFor(empty, { key: key.privateKey, abi: 2 }).bytes, /^BrainInvalidModule: it lacks the core's exports memory, abi_version, /);
  });

  it('commit bytes that are no commit line are refused at once (-ERR_HOST_CALL_INVALID), nothing follows', () => {
    for (const bytes of ['no newline', 'not json\n{}', '[1]\n{}', '{"pod":"p"}\n{}']) {
      const { out } = commit(wasm, Buffer.from(bytes));
      assert.equal(out.rc, INVALID, bytes);
      assert.equal(out.result, undefined);
    }
    assert.throws(() => parseCommit(Buffer.from('{"pod":"p","image":"i","digest":"sha256:x","layer":"sha256:y","size":1,"abi":2,"version":"v"}\n')), /"digest" is not sha256:<64 hex digits>/);
  });

  it('a commit forgets the image: the next one must start again at offset 0', () => {
    const c = commitFor(wasm, { key: key.privateKey });
    const { calls } = commit(wasm, c.bytes);
    assert.equal(calls.call(HostOp.BRAIN_WRITE, wasm.length, Buffer.from('x')).rc, INVALID);
    assert.match(calls.call(HostOp.BRAIN_COMMIT, 0, c.bytes).result!.data, /^BrainIncomplete: the host holds 0 bytes/);
  });

  it('OP_BRAIN_STATUS: nothing for the core host-sim started with; running= for a brain, and the last rollback', () => {
    const start = new WebAssembly.Module(new Uint8Array(wasm));
    const keeper = new BrainKeeper({ module: start, digest: null });
    const calls = new BrainCalls(new BrainSlot(), [key.publicKey], keeper, () => {});
    const status = (): string => {
      const out = calls.call(HostOp.BRAIN_STATUS, 0, new Uint8Array(0));
      assert.equal(out.rc, 0);
      assert.equal(out.result?.status, 0);
      return out.result!.data;
    };
    assert.equal(status(), '');
    assert.equal(calls.call(99, 0, new Uint8Array(0)).rc, -ErrorCode.UNSUPPORTED);
    const a = commitFor(wasm, { key: key.privateKey });
    const brainA = parseCommit(a.bytes).commit;
    const snapA = Buffer.from('{"snapshot":"of the start core"}');
    keeper.begin({ commit: brainA, module: start, image: wasm }, snapA);
    assert.equal(status(), `running=${a.digest}\n`);
    assert.ok(keeper.isProving);
    keeper.started(10, 1000);
    assert.equal(keeper.provenBy(12), false);
    assert.equal(keeper.stalled(10), true, 'no renewal since the swap');
    assert.equal(keeper.stalled(11), false);
    const back = keeper.rollback('BrainNotRenewing', 'no Lease renewal\nwithin 30 s of the swap');
    assert.equal(back?.brain.digest, null, 'back to the core host-sim started with');
    assert.equal(back?.snapshot, snapA, 'with the snapshot it handed over');
    assert.equal(status(), `failed=${a.digest}\nreason=BrainNotRenewing\nmessage=no Lease renewal within 30 s of the swap\n`);
  });

  it('a swap from a brain still proving keeps the last proven brain to go back to; a proven one becomes it', () => {
    const start = new WebAssembly.Module(new Uint8Array(wasm));
    const keeper = new BrainKeeper({ module: start, digest: null });
    const a = parseCommit(commitFor(wasm, { key: key.privateKey, version: '0.2.0' }).bytes).commit;
    const b = parseCommit(commitFor(wasm, { key: key.privateKey, version: '0.3.0' }).bytes).commit;
    const s0 = Buffer.from('s0');
    keeper.begin({ commit: a, module: start, image: wasm }, s0);
    keeper.started(0, 1000);
    keeper.begin({ commit: b, module: start, image: wasm }, Buffer.from('s1'));
    const back = keeper.rollback('BrainCrashed', 'RuntimeError: unreachable');
    assert.equal(back?.brain.digest, null, 'not the unproven brain A');
    assert.equal(back?.snapshot, s0);
    keeper.begin({ commit: a, module: start, image: wasm }, Buffer.from('s2'));
    keeper.started(5, 1000);
    assert.equal(keeper.provenBy(8), true, '3 renewals prove it');
    assert.equal(keeper.isProving, false);
    keeper.begin({ commit: b, module: start, image: wasm }, Buffer.from('s3'));
    assert.equal(keeper.rollback('BrainCrashed', 'x')?.brain.digest, a.digest, 'the proven brain is the one to go back to');
  });
});

describe('the proven brain under --state-dir, and --brain-public-key files', () => {
  it('brain-current.wasm and brain-current.json are written and read back; a mismatched pair is not used', () => {
    const dir = path.join(tmpDir('brain-store'), 'state');
    assert.equal(loadProven(dir, () => assert.fail('nothing to warn about')), null);
    const wasm = Buffer.from('pretend module');
    const c = parseCommit(commitFor(wasm, { abi: 2 }).bytes).commit;
    saveProven(dir, c, wasm);
    assert.deepEqual(fs.readdirSync(dir).sort(), [CURRENT_JSON, CURRENT_WASM]);
    const got = loadProven(dir, () => assert.fail('a good pair'));
    assert.equal(got?.record.digest, c.digest);
    assert.ok(got?.image.equals(wasm));
    fs.writeFileSync(path.join(dir, CURRENT_WASM), 'another module');
    const warnings: string[] = [];
    assert.equal(loadProven(dir, (w) => warnings.push(w)), null);
    assert.match(warnings.join(), /brain-current\.wasm is sha256:[0-9a-f]{64}, but .*brain-current\.json names sha256:/);
  });

  it('keys are base64 of 32 raw bytes (brain-key\'s FILE.pub) or PEM; anything else is one clear error', () => {
    const dir = tmpDir('brain-keys');
    const k = crypto.generateKeyPairSync('ed25519').publicKey;
    fs.writeFileSync(path.join(dir, 'a.pub'), rawPublic(k).toString('base64') + '\n');
    fs.writeFileSync(path.join(dir, 'b.pem'), k.export({ type: 'spki', format: 'pem' }));
    fs.writeFileSync(path.join(dir, 'bad.pub'), 'c2hvcnQ=\n');
    const keys = loadBrainPublicKeys([path.join(dir, 'a.pub'), path.join(dir, 'b.pem')]);
    assert.equal(keys.length, 2);
    assert.ok(keys.every((x) => rawPublic(x).equals(rawPublic(k))));
    assert.throws(() => loadBrainPublicKeys([path.join(dir, 'bad.pub')]), /--brain-public-key .*bad\.pub: not an Ed25519 public key .*use the FILE\.pub that `picokubelet-sim brain-key` wrote/);
    assert.throws(() => loadBrainPublicKeys([path.join(dir, 'missing.pub')]), /--brain-public-key .*missing\.pub: cannot read it \(ENOENT\)/);
  });
});

describe('--registry-ca: PROFILE_PUBLIC connections trust the system CAs plus that CA, always verified', () => {
  let server: FakeTlsServer;
  before(async () => {
    server = await listenTls(new FakeApiServer(), { cert: testPki().server.cert, key: testPki().server.key });
  });
  after(() => server.close());

  /** Connects with PROFILE_PUBLIC; resolves with 'connected' or the close reason. */
  async function publicConnect(registryCa?: string): Promise<string> {
    const timers = new ManualTimers();
    let outcome = '';
    const t = tlsTransport({}, timers, { registryCa })(
      { connected: () => (outcome = 'connected'), data: () => {}, closed: (_c, r) => (outcome = `closed ${r}`) },
      () => {},
    );
    t.connect(1, '127.0.0.1', server.port, '127.0.0.1', Profile.PUBLIC);
    await until(() => outcome !== '', 10_000, 'the TLS handshake');
    t.dropAll();
    return outcome;
  }

  it('a registry certificate from the test CA fails without --registry-ca and verifies with it', async () => {
    assert.equal(await publicConnect(), `closed ${Close.TLS_FAILED}`);
    assert.equal(await publicConnect(testPki().ca.cert), 'connected');
    // Another CA is no substitute: still verified.
    assert.equal(await publicConnect(testPki().otherCa.cert), `closed ${Close.TLS_FAILED}`);
  });
});
