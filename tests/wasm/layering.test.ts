/**
 * The core's folders form layers and every import points down:
 *
 *   abi <- util <- json <- http <- node <- pods <- brain <- agent <- server <- kubelet.ts (the exports)
 *
 * A file may import from its own folder or from any folder below it, never from one above. Inside a
 * folder, files must not import each other in a cycle. This test reads the sources, so it fails the moment
 * someone adds an upward import, whatever the compiler thinks of it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, dirname, resolve } from "node:path";
import { ROOT } from "../support/core-harness.js";

const ASSEMBLY = join(ROOT, "assembly");
/** Layer order, bottom first. The entry file sits above every folder. */
export const LAYERS = ["abi", "util", "json", "http", "node", "pods", "brain", "agent", "server"];
const ENTRY_RANK = LAYERS.length;

interface Edge {
  from: string;
  to: string;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Every relative import of every core source, as paths relative to assembly/ without ".ts". */
export function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sources(ASSEMBLY)) {
    const text = readFileSync(file, "utf8");
    const from = relative(ASSEMBLY, file).replace(/\.ts$/, "");
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)) {
      const to = relative(ASSEMBLY, resolve(dirname(file), m[1]));
      edges.push({ from, to });
    }
  }
  return edges;
}

/** The layer rank of a module path ("node/lease" -> 4), the entry's rank for top-level files. */
export function rank(modulePath: string): number {
  const parts = modulePath.split("/");
  if (parts.length === 1) return ENTRY_RANK;
  const i = LAYERS.indexOf(parts[0]);
  return i;
}

/** Upward imports and imports of unknown folders, as "from -> to" lines. */
export function violations(edges: Edge[]): string[] {
  const bad: string[] = [];
  for (const { from, to } of edges) {
    const rf = rank(from);
    const rt = rank(to);
    if (rf < 0) bad.push(`${from} lives in a folder that is not a layer (${LAYERS.join(", ")})`);
    else if (rt < 0) bad.push(`${from} -> ${to}: not a layer`);
    else if (rt > rf) bad.push(`${from} -> ${to}: imports upward (${LAYERS[rf] ?? "entry"} may not import ${LAYERS[rt] ?? "entry"})`);
  }
  return [...new Set(bad)];
}

/** Cycles among modules (which, with the rank rule, can only be inside one folder). */
export function cycles(edges: Edge[]): string[][] {
  const graph = new Map<string, string[]>();
  for (const { from, to } of edges) graph.set(from, [...(graph.get(from) ?? []), to]);
  const found: string[][] = [];
  const state = new Map<string, number>(); // 1 on the stack, 2 done
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 1);
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 1) found.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return found;
}

test("every import in assembly/ points down the layers", () => {
  const edges = importEdges();
  assert.ok(edges.length > 40, `expected the core's imports, found ${edges.length}`);
  assert.deepEqual(violations(edges), []);
});

test("no cycle among the core's files", () => {
  assert.deepEqual(cycles(importEdges()), []);
});

test("the checker itself catches an upward import and a cycle", () => {
  assert.deepEqual(violations([{ from: "http/lane", to: "node/context" }]).length, 1);
  assert.deepEqual(violations([{ from: "util/log", to: "abi/imports" }]), []);
  assert.deepEqual(violations([{ from: "kubelet", to: "agent/agent" }]), []);
  assert.deepEqual(violations([{ from: "core/x", to: "abi/codes" }]).length, 1);
  const c = cycles([{ from: "node/a", to: "node/b" }, { from: "node/b", to: "node/a" }]);
  assert.equal(c.length, 1);
});
