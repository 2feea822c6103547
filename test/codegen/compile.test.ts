/**
 * compile(): bundle structure (buffers with symbolic sizes, launch grids as
 * expressions of named dims, inputs/outputs), buffer reuse, compile-time
 * errors naming the op, and run-time index checks on the cpu backend.
 */
import { describe, expect, it } from "vitest";
import { cpuBackend } from "../../backends/cpu/backend";
import { compile, CompileError } from "../../codegen/compile";
import { evalSize, sizeToText, type Launch } from "../../codegen/kernel_ir";
import { assignBuffers, type SlotInfo } from "../../codegen/passes/buffer_reuse";
import { spec, trace } from "../../dsl/api";
import { tensor } from "../../dsl/creation";
import * as ops from "../../dsl/ops";
import type { Tensor } from "../../dsl/tensor";
import "../../codegen/index";
import { mulberry32, randomFloats, runAndCompare } from "../../testing/random_programs";
import { SMALL_GPU_KNOBS, runCompiled } from "./runners";
import { moePrograms } from "../../bench/moe_layer";

describe("bundles", () => {
  it("sizes and grids are expressions of the program's named dims", () => {
    const p = trace((x: Tensor, w: Tensor) => ops.softmax(ops.matmul(x, w)), spec(["T", 16]), spec([16, "E"]));
    const b = compile(p, { target: "wgsl" });
    expect(b.dims).toEqual(["T", "E"]);
    const out = b.buffers.find((x) => x.name === b.outputs[0])!;
    expect(sizeToText(out.size)).toBe("E*T");
    const dims = new Map([
      ["T", 100],
      ["E", 8],
    ]);
    expect(evalSize(out.size, dims)).toBe(800);
    for (const l of b.schedule) expect(evalSize(l.grid, dims)).toBeGreaterThan(0);
    for (const l of b.schedule) {
      const k = b.kernels.find((q) => q.name === l.kernel)!;
      expect(Object.keys(l.bindings).sort()).toEqual(k.params.map((q) => q.name).sort());
      for (const buf of Object.values(l.bindings)) expect(b.buffers.some((q) => q.name === buf)).toBe(true);
    }
  });

  it("temporaries with disjoint lives share buffers; inputs, outputs and consts keep theirs", () => {
    // A chain of row kernels: each intermediate lives across a few launches only, so the
    // number of temporary buffers stays the same however long the chain is.
    const chain = (n: number) =>
      compile(
        trace(
          (x: Tensor) => {
            let y = x;
            for (let i = 0; i < n; i++) y = ops.softmax(ops.transpose(ops.softmax(y), [1, 0]));
            return y;
          },
          spec([8, 8]),
        ),
        { target: "js" },
      );
    const [short, long] = [chain(6), chain(12)];
    const temps = (b: typeof short) => b.buffers.filter((q) => q.role === "temp").length;
    expect(long.schedule.length).toBeGreaterThan(short.schedule.length);
    expect(temps(short)).toBeLessThanOrEqual(4);
    expect(temps(long)).toBe(temps(short));
    expect(short.buffers.filter((q) => q.role === "input").map((q) => q.name)).toEqual(["in0"]);
  });

  it("assignBuffers alone: overlapping lives never share, equal type and size are required to share", () => {
    const slot = (name: string, type: SlotInfo["type"] = "f32", size = 4): SlotInfo => ({
      name,
      type,
      size,
      role: "temp",
    });
    const slots = new Map(
      [slot("a"), slot("b"), slot("c"), slot("d", "i32"), slot("e", "f32", 5)].map((s) => [s.name, s]),
    );
    const launch = (...bound: string[]): Launch => ({
      kernel: "k",
      grid: 1,
      bindings: Object.fromEntries(bound.map((s) => [s, s])),
    });
    const launches = [launch("a"), launch("a", "b"), launch("b", "c"), launch("c", "d"), launch("d", "e")];
    const { bufferOf } = assignBuffers(slots, launches, [], []);
    expect(bufferOf.get("a")).not.toBe(bufferOf.get("b"));
    expect(bufferOf.get("b")).not.toBe(bufferOf.get("c"));
    expect(bufferOf.get("c")).toBe(bufferOf.get("a")); // a died at launch 1, c is born at 2
    expect(bufferOf.get("d")).not.toBe(bufferOf.get("a")); // other type
    expect(bufferOf.get("e")).not.toBe(bufferOf.get("a")); // other size
  });
});

describe("the benchmark MoE layer", () => {
  it("compiles forward and fwd+bwd for every target (the programs `npm run bench` and `cuda:check` run)", () => {
    const { forward, gradient } = moePrograms({ T: 64, D: 16, H: 32, E: 4, K: 2 });
    for (const target of ["js", "wgsl", "cuda"] as const) {
      for (const p of [forward, gradient]) expect(compile(p, { target }).kernels.length).toBeGreaterThan(3);
    }
  });
});

describe("matmul micro-tile layouts", () => {
  it("blocked and strided shared-tile micro-tiles equal the interpreter (matmul, grouped GEMM, tails)", async () => {
    const rng = mulberry32(12);
    const x = randomFloats(rng, "f32", [19, 13]);
    const w = randomFloats(rng, "f32", [13, 11]);
    const we = randomFloats(rng, "f32", [3, 13, 11]);
    const sizes = tensor([7, 0, 12], [3], "i32");
    const p = trace(
      (a: Tensor, b: Tensor, be: Tensor, g: Tensor) => [ops.matmul(a, b), ops.raggedMatmul(a, be, g)],
      x,
      w,
      we,
      sizes,
    );
    for (const stridedMicroTile of [false, true]) {
      for (const knobs of [
        { ...SMALL_GPU_KNOBS, stridedMicroTile },
        { tileM: 16, tileN: 8, tileK: 4, microM: 4, microN: 2, stridedMicroTile },
      ]) {
        const b = compile(p, { target: "js", like: "wgsl", knobs });
        await runAndCompare((q, xs) => runCompiled(b, q, xs), p, [x, w, we, sizes], 1e-6);
      }
    }
  });
});

describe("scatter schedules", () => {
  it("serial (JS), sort/segment (GPU) and the atomic option for integers agree with the interpreter", async () => {
    const p = trace(
      (x: Tensor, i: Tensor, u: Tensor) => ops.scatterAdd(x, i, u, 1),
      spec([3, 5], "i32"),
      spec([7], "i32"),
      spec([3, 7], "i32"),
    );
    const inputs = [
      tensor([...Array(15).keys()], [3, 5], "i32"),
      tensor([4, 0, 4, 4, 1, 0, 3], [7], "i32"),
      tensor(
        [...Array(21).keys()].map((v) => v * 3 - 20),
        [3, 7],
        "i32",
      ),
    ];
    for (const options of [
      {},
      { like: "wgsl" as const, knobs: SMALL_GPU_KNOBS },
      { like: "wgsl" as const, scatter: "atomic" as const, knobs: SMALL_GPU_KNOBS },
    ]) {
      const b = compile(p, { target: "js", ...options });
      await runAndCompare((q, xs) => runCompiled(b, q, xs), p, inputs, 0);
    }
    expect(compile(p, { target: "wgsl", scatter: "atomic" }).kernels.some((k) => k.params.some((q) => q.atomic))).toBe(
      true,
    );
    expect(compile(p, { target: "wgsl" }).kernels.some((k) => k.params.some((q) => q.atomic))).toBe(false);
  });
});

describe("compile-time errors name the op", () => {
  it("f64 on GPU targets", () => {
    const p = trace((x: Tensor) => ops.exp(x), spec([3], "f64"));
    for (const target of ["wgsl", "cuda"] as const) {
      expect(() => compile(p, { target })).toThrow(CompileError);
      expect(() => compile(p, { target })).toThrow(/f64/);
    }
    const q = trace((x: Tensor) => ops.exp(ops.cast(x, "f64")), spec([3]));
    expect(() => compile(q, { target: "wgsl" })).toThrow(/op "cast"/);
    expect(compile(q, { target: "js" }).kernels.length).toBe(1);
  });

  it("buffers past 32-bit index math on wgsl and js", () => {
    const p = trace((x: Tensor) => ops.exp(x), spec([65536, 65536]));
    expect(() => compile(p, { target: "wgsl" })).toThrow(/2\^31/);
  });
});

describe("run-time index checks (cpu backend)", () => {
  const x = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  it("take, gather, scatterAdd and bincount fail like the interpreter", () => {
    const run = (f: (...a: Tensor[]) => Tensor, ...args: Tensor[]) => cpuBackend.run(trace(f, ...args), args);
    expect(() => run((a, i) => ops.take(a, i), x, tensor([7], [1], "i32"))).toThrow(
      "take: index 7 is out of range for axis 0 of size 2",
    );
    expect(() => run((a, i) => ops.gather(a, i, 1), x, tensor([0, 1, 2, 0, 1, 5], [2, 3], "i32"))).toThrow(
      "gather: index 5 is out of range for axis 1 of size 3",
    );
    expect(() => run((a, i, u) => ops.scatterAdd(a, i, u), x, tensor([-1], [1], "i32"), tensor([[1, 1, 1]]))).toThrow(
      "scatterAdd: index -1 is out of range",
    );
    expect(() => run((i) => ops.bincount(i, 3), tensor([0, 3], [2], "i32"))).toThrow(
      "bincount: index 3 is out of range",
    );
    expect(Array.from(run((a, i) => ops.take(a, i), x, tensor([1, 0], [2], "i32"))[0]!.dataSync())).toEqual([
      4, 5, 6, 1, 2, 3,
    ]);
  });

  it("the first launch clears the flag when it checks nothing itself; else a clearing launch of its own", () => {
    // A row sum, then a take through i: the reduce kernel (first) clears the flag the take kernel sets.
    const p = trace((a: Tensor, i: Tensor) => ops.take(ops.sum(a, 1), i), spec([2, 3]), spec([2], "i32"));
    for (const target of ["wgsl", "cuda", "js", "wasm"] as const) {
      const b = compile(p, { target });
      expect(b.kernels.map((k) => k.name)).not.toContain("k_clear_checks");
      expect(Object.values(b.schedule[0]!.bindings), target).toContain(b.checks!.buffer);
      expect(b.kernels[0]!.comment).toContain("also clears the index-check flag");
      // The take alone checks in the first kernel: a clearing launch first.
      const q = trace((a: Tensor, i: Tensor) => ops.take(a, i), spec([2, 3]), spec([1], "i32"));
      expect(compile(q, { target }).kernels[0]!.name).toBe("k_clear_checks");
    }
    const run = (i: number[]) =>
      runCompiled(compile(p, { target: "js" }), p, [x, tensor(i, [2], "i32")])[0]!.dataSync();
    expect(() => run([0, 2])).toThrow("take: index 2 is out of range for axis 0 of size 2");
    expect(Array.from(run([1, 0]))).toEqual([15, 6]);
  });

  it("every target checks by default; checks: false drops the flag buffer (kernels clamp instead)", () => {
    const p = trace((a: Tensor, i: Tensor) => ops.take(a, i), spec([2, 3]), spec([1], "i32"));
    for (const target of ["wgsl", "cuda", "js"] as const) {
      expect(compile(p, { target, checks: false }).checks).toBeUndefined();
      expect(compile(p, { target }).checks?.messages).toHaveLength(1);
    }
    const b = compile(p, { target: "wgsl" });
    expect(b.checks?.messages[0]).toContain("take: index {index} is out of range for axis 0 of size {size}");
    expect(b.buffers.some((q) => q.name === b.checks!.buffer)).toBe(true);
  });
});
