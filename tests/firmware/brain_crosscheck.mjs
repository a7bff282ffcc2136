// tests/firmware/brain_crosscheck.mjs: the firmware's brain checks and host-sim's agree (docs/brain.md
// "Store and verify"). test_brain_verify --emit writes commit cases (fresh key pairs, generated manifests,
// the release core as the image) with the firmware's verdict; each is then put to host-sim's own
// verifyCommit (build/ts/host-sim/src/brain/verify.js) and the verdicts compared: the same words, except
// where the message names the host (BrainUntrusted's hint) or quotes its compiler (BrainInvalidModule),
// where the reason must match.
//
//   node tests/firmware/brain_crosscheck.mjs <test_brain_verify> <build/ts dir> <image.wasm>
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [bin, tsDir, image] = process.argv.slice(2);
if (!bin || !tsDir || !image) {
  console.error('usage: brain_crosscheck.mjs <test_brain_verify> <build/ts dir> <image.wasm>');
  process.exit(2);
}
const verifyJs = path.join(tsDir, 'host-sim/src/brain/verify.js');
if (!fs.existsSync(verifyJs)) {
  console.error(`${verifyJs} is missing: run \`npm run build\` first`);
  process.exit(1);
}
const { verifyCommit, BrainRefusal } = await import(pathToFileURL(verifyJs).href);
const { publicKeyFrom } = await import(pathToFileURL(path.join(tsDir, 'host-sim/src/brain.js')).href);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-brain-xcheck-'));
let failures = 0;
let cases = 0;
try {
  execFileSync(bin, ['--emit', dir, image], { stdio: 'inherit' });
  const names = fs.readdirSync(dir).filter((f) => f.endsWith('.commit')).map((f) => f.slice(0, -'.commit'.length)).sort();
  if (names.length < 10) throw new Error(`test_brain_verify --emit wrote ${names.length} cases, not 10`);
  for (const name of names) {
    cases++;
    const read = (ext) => fs.readFileSync(path.join(dir, `${name}.${ext}`));
    const keys = read('keys').toString('utf8').split('\n').filter((l) => l !== '').map(publicKeyFrom);
    const firmware = read('words').toString('utf8');
    let hostSim = '';
    try {
      verifyCommit(read('commit'), read('image'), keys);
    } catch (err) {
      if (!(err instanceof BrainRefusal)) throw err;
      hostSim = err.words;
    }
    const reason = (w) => w.split(':')[0];
    const wordForWord = !['BrainUntrusted', 'BrainInvalidModule'].includes(reason(firmware));
    const same = wordForWord ? firmware === hostSim : reason(firmware) === reason(hostSim);
    console.log(`${same ? 'ok  ' : 'FAIL'} ${name}: ${firmware || 'accepted'}`);
    if (!same) {
      console.log(`     host-sim: ${hostSim || 'accepted'}`);
      failures++;
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`brain_crosscheck: ${cases} cases, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
