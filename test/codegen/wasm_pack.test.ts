/**
 * The wasm target's vector panel copy (codegen/emit/wasm/pack.ts) against the
 * pack kernel's scalar body (the same kernel rendered by kernel.ts) and against
 * the panel layout's definition, bit for bit: random shapes with column tails
 * (cols not a multiple of 8), groups, depth 1, and uneven workgroup ranges; a
 * fused producer (a transposed weight) keeps the scalar body.
 */
import { describe, expect, it } from "vitest";
import { runBundle } from "../../backends/cpu/runtime";
import { compile } from "../../codegen/compile";
import { decodeWasmSource } from "../../codegen/emit/wasm/emitter";
import { hostImportsSource } from "../../codegen/emit/wasm/imports";
import { MAX_PAGES, renderWasmKernel } from "../../codegen/emit/wasm/kernel";
import { renderPackKernel, simdPack } from "../../codegen/emit/wasm/pack";
import { evalSize, type Kernel, type KernelBundle } from "../../codegen/kernel_ir";
import { bindDims } from "../../dsl/trace";
import { matmul, raggedMatmul, spec, trace, transpose, type Program, type Tensor as T } from "../../index";
import { NDArray } from "../../dsl/ndarray";
import { Tensor } from "../../dsl/tensor";
import { mulberry32, randomFloats } from "../../testing/random_programs";

const memory = { shared: typeof SharedArrayBuffer !== "undefined" };
const wasmSource = (bytes: Uint8Array<ArrayBuffer>) => {
  expect(WebAssembly.validate(bytes)).toBe(true);
  return "wasm:" + Buffer.from(bytes).toString("base64");
};

/** The pack launches of `p` on wasm, each run alone (its panels an output) with the vector copy and the scalar body. */
function packs(p: Program, inputs: Tensor[]) {
  const bundle = compile(p, { target: "wasm" });
  const dims = bindDims(p, inputs);
  const results = [];
  for (const k of bundle.kernels.filter((k) => k.name.includes("pack_panels"))) {
    const pack = simdPack(k);
    if (!pack) continue;
    expect(decodeWasmSource(k.source)).toEqual(renderPackKernel(k, memory));
    const launch = bundle.schedule.find((l) => l.kernel === k.name)!;
    const src = launch.bindings[pack.source]!;
    const dst = launch.bindings[pack.panels]!;
    const input = inputs[bundle.inputs.indexOf(src)]!._value().data as Float32Array;
    const run = (source: string) => {
      const alone: KernelBundle = {
        ...bundle,
        kernels: [{ ...k, source }],
        schedule: [{ kernel: k.name, grid: launch.grid, bindings: launch.bindings }],
        buffers: bundle.buffers.map((b) => (b.name === dst ? { ...b, role: "output" as const } : b)),
        inputs: [src],
        outputs: [dst],
      };
      const [out] = runBundle(alone, [input], dims);
      return new Uint32Array((out as Float32Array).slice().buffer);
    };
    results.push({
      simd: run(wasmSource(renderPackKernel(k, memory))),
      scalar: run(wasmSource(renderWasmKernel(k, memory))),
      source: input,
      split: (rng: () => number) =>
        splitRuns(renderPackKernel(k, memory), k, input, dims, evalSize(launch.grid, dims), rng),
    });
  }
  return results;
}

/**
 * Runs the vector copy's module over its grid in random [first, last) pieces (as the thread pool
 * splits a launch: pieces that start inside a panel or a group); returns the panels' bits.
 */
function splitRuns(
  bytes: Uint8Array<ArrayBuffer>,
  k: Kernel,
  src: Float32Array,
  dims: ReadonlyMap<string, number>,
  grid: number,
  rng: () => number,
): Uint32Array {
  const pack = simdPack(k)!;
  const items = grid * k.workgroupSize;
  const dstBytes = items * pack.tileCols * 4;
  const wasmMemory = new WebAssembly.Memory({
    initial: 1 + Math.ceil((src.byteLength + dstBytes) / 65536),
    maximum: MAX_PAGES,
    shared: memory.shared,
  });
  const host = new Function(`return ${hostImportsSource()}`)() as Record<string, unknown>;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { mf: { memory: wasmMemory, ...host } });
  const fn = inst.exports.kernel as (...args: number[]) => void;
  new Float32Array(wasmMemory.buffer, 0, src.length).set(src);
  const dstBase = Math.ceil(src.byteLength / 16) * 16;
  const bases = k.params.map((q) => (q.name === pack.source ? 0 : q.name === pack.panels ? dstBase : -1));
  expect(bases.every((b) => b >= 0)).toBe(true);
  const sizes = k.sizes.map((s) => dims.get(s)!);
  const panels = Math.ceil(evalSize(pack.cols, dims) / pack.tileCols);
  const length = evalSize(pack.groups, dims) * panels * evalSize(pack.depth, dims) * pack.tileCols;
  new Float32Array(wasmMemory.buffer, dstBase, length).fill(NaN);
  for (let first = 0; first < grid;) {
    const last = Math.min(grid, first + 1 + Math.floor(rng() * 3));
    fn(...bases, ...sizes, grid, first, last);
    first = last;
  }
  return new Uint32Array(new Float32Array(wasmMemory.buffer, dstBase, length).slice().buffer);
}

/** The panels of `src` ([groups, depth, cols]) by definition: [g][p][k][j] = src[g, k, p * 8 + j], 0 past cols. */
function panelsOf(src: Float32Array, groups: number, depth: number, cols: number): Uint32Array {
  const panels = Math.ceil(cols / 8);
  const out = new Float32Array(groups * panels * depth * 8);
  for (let g = 0; g < groups; g++)
    for (let p = 0; p < panels; p++)
      for (let k = 0; k < depth; k++)
        for (let j = 0; j < 8; j++) {
          const col = p * 8 + j;
          out[((g * panels + p) * depth + k) * 8 + j] = col < cols ? src[(g * depth + k) * cols + col]! : 0;
        }
  return new Uint32Array(out.buffer);
}

describe("wasm vector panel copy", () => {
  it("equals the scalar pack and the layout, grouped and dense, with column tails and depth 1", () => {
    const rng = mulberry32(16);
    let checked = 0;
    for (let trial = 0; trial < 12; trial++) {
      const groups = 1 + Math.floor(rng() * 4);
      const depth = trial % 4 === 0 ? 1 : 1 + Math.floor(rng() * 40);
      const cols = trial % 3 === 0 ? 8 * (1 + Math.floor(rng() * 4)) : 1 + Math.floor(rng() * 37);
      const rows = 1 + Math.floor(rng() * 30);
      const sizes = new Int32Array(groups);
      for (let i = 0; i < rows; i++) sizes[Math.floor(rng() * groups)]!++;
      const grouped = trace(
        (x: T, w: T, g: T) => raggedMatmul(x, w, g),
        spec([rows, depth]),
        spec([groups, depth, cols]),
        spec([groups], "i32"),
      );
      const dense = trace((x: T, w: T) => matmul(x, w), spec([rows, depth]), spec([depth, cols]));
      const x = randomFloats(rng, "f32", [rows, depth]);
      const gs = Tensor._concrete(new NDArray("i32", [groups], sizes));
      for (const [p, inputs, g] of [
        [grouped, [x, randomFloats(rng, "f32", [groups, depth, cols]), gs], groups],
        [dense, [x, randomFloats(rng, "f32", [depth, cols])], 1],
      ] as const) {
        const found = packs(p, [...inputs]);
        expect(found.length, `${groups}x${depth}x${cols}`).toBe(1);
        for (const { simd, scalar, source, split } of found) {
          expect(simd).toEqual(scalar);
          const want = panelsOf(source, g, depth, cols);
          expect(simd).toEqual(want);
          expect(split(rng)).toEqual(want);
          checked++;
        }
      }
    }
    expect(checked).toBe(24);
  });

  it("keeps the scalar body where the producer is fused (a transposed weight)", () => {
    const p = trace((x: T, w: T) => matmul(x, transpose(w)), spec([5, 12]), spec([19, 12]));
    const bundle = compile(p, { target: "wasm" });
    const pack = bundle.kernels.filter((k) => k.name.includes("pack_panels"));
    expect(pack.length).toBe(1);
    expect(simdPack(pack[0]!)).toBeNull();
  });
});
