#!/usr/bin/env node
// host-sim/bin/picokubelet-sim.js
// The executable: hands the command line to the compiled CLI (build it with `tsc -p host-sim`).
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv.slice(2));
