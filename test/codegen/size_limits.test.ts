/**
 * Index math past 2^31 on every target: the range analysis over kernel IR
 * (codegen/analysis/ranges.ts), and what each target does with its bounds:
 * WGSL rejects (compile time for static sizes, bind time for named dims), JS
 * computes wide index math with plain numbers, CUDA with `long long`. No test
 * allocates 2^31 elements: programs broadcast small inputs, assertions read
 * the emitted code, the errors, and cheap launches whose indices pass 2^31.
 */
import { describe, expect, it } from "vitest";
import "../../codegen/index";
import { compile, CompileError } from "../../codegen/compile";
import { analyzeRanges } from "../../codegen/analysis/ranges";
import { checkSizeLimits } from "../../codegen/analysis/limits";
import { bin, builtin, c, cast, load, size, v, type Expr, type Kernel, type Stmt } from "../../codegen/kernel_ir";
import { runBundle } from "../../backends/cpu/runtime";
import { cudaBundleSource } from "../../backends/cuda/bundle";
import { cudaSource } from "../../codegen/emit/cuda";
import { webgpuBackend } from "../../backends/webgpu/backend";
import { findNvcc, compileCuda, formatDiagnostics, HOST_WARNINGS_AS_ERRORS } from "../../backends/cuda/nvcc";
import {
  arange,
  broadcastTo,
  cast as castOp,
  jit,
  mul,
  reshape,
  slice,
  spec,
  sum,
  trace,
  type Tensor,
} from "../../index";
import { moePrograms, BENCH_MOE } from "../../bench/moe_layer";
import { webgpuForTests } from "../webgpu/test_device";

const kernel = (body: Stmt[], grid?: number): Kernel => ({
  name: "k",
  params: [],
  sizes: ["N"],
  shared: [],
  workgroupSize: 64,
  body,
  ...(grid === undefined ? {} : { grid }),
});
const i32let = (name: string, init: Expr, mutable = false): Stmt => ({ kind: "let", name, type: "i32", init, mutable });
const thrown = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
};

describe("range analysis", () => {
  it("bounds index math by the grid, sizes and constants; loaded values are data until clamped", () => {
    const body: Stmt[] = [
      i32let("gid", cast(builtin("globalLinear"), "i32")),
      i32let("row", bin("div", v("gid"), c(64), "i32")),
      i32let("id", load("ids", v("row"), "i32")),
      i32let("off", bin("mul", v("id"), c(8), "i32")),
      i32let("clamped", bin("min", bin("max", v("id"), c(0), "i32"), bin("sub", size("N"), c(1), "i32"), "i32")),
      i32let("big", bin("mul", v("gid"), c(1 << 20), "i32")),
    ];
    const r = analyzeRanges(kernel(body, 1000));
    expect(r.varRange("gid")!.hi).toBe(64_000); // bounds are one past the largest id (size expressions have no subtraction)
    expect(r.varRange("row")!.hi).toBe(1000);
    expect(r.varRange("id")!.data).toBe(true);
    expect(r.isIndex(v("off"))).toBe(false); // data keeps i32 wrap-around semantics
    expect(r.varRange("clamped")).toMatchObject({ data: false, hi: { op: "add", args: ["N", 1] } });
    expect(r.varMayExceedI32("row")).toBe(false);
    expect(r.varMayExceedI32("big")).toBe(true);
    expect(r.unproven.map((u) => u.bound)).toContain(64_000 * (1 << 20));
  });

  it("a kernel without a grid has unbounded builtins; a loop-carried update counts as data", () => {
    const body: Stmt[] = [
      i32let("gid", cast(builtin("globalLinear"), "i32")),
      i32let("k", c(0), true),
      {
        kind: "for",
        var: "j",
        start: c(0),
        end: size("N"),
        body: [{ kind: "assign", name: "k", value: bin("add", v("k"), c(1), "i32") }],
      },
    ];
    const r = analyzeRanges(kernel(body));
    expect(r.varMayExceedI32("gid")).toBe(true);
    expect(r.varRange("k")!.data).toBe(true);
    expect(r.varRange("j")).toMatchObject({ data: false, hi: { op: "add", args: ["N", 1] } });
  });
});

const N = 46341; // N * N > 2^31
const hugeSum = trace((x: Tensor) => sum(broadcastTo(x, [N, N])), spec([N, 1]));
const fitsSum = trace((x: Tensor) => sum(broadcastTo(x, [N - 1, N - 1])), spec([N - 1, 1]));
/** Reads 3 elements at flat offsets past 2^32 of a [2^16, 2^16] broadcast: wide index math, 3 threads. */
const M = 65536;
const tail = (x: Tensor) => slice(reshape(broadcastTo(x, [M, M]), [M * M]), [M * M - 3], [M * M]);
const tailProgram = trace(tail, spec([M, 1]));
const symbolicSum = trace((x: Tensor) => sum(broadcastTo(x, ["T", 65536])), spec(["T", 1]));
const T = (n: number) => new Map([["T", n]]);

describe("wgsl: i32 index math, proven or rejected", () => {
  it("static sizes past 2^31 are a compile error naming the op, the size and the limit", () => {
    const message = thrown(() => compile(hugeSum, { target: "wgsl" }));
    expect(message).toMatch(/reduceSum/);
    expect(message).toMatch(/is 21474\d{5}, more than the 2\^31 - 1/);
    expect(() => compile(hugeSum, { target: "wgsl" })).toThrow(CompileError);
    expect(thrown(() => compile(tailProgram, { target: "wgsl" }))).toMatch(
      /slice.*is 42949\d{5}, more than the 2\^31 - 1/,
    );
  });

  it("the largest static sizes below 2^31 compile, with no wrapped literal", () => {
    const b = compile(fitsSum, { target: "wgsl" });
    expect(b.limits).toBeUndefined();
    expect(b.kernels.map((k) => k.source).join("\n")).not.toMatch(/-\d{10}i/);
  });

  it("named dims are checked when bound: a clear error past 2^31, nothing below", () => {
    const b = compile(symbolicSum, { target: "wgsl" });
    expect(thrown(() => checkSizeLimits(b.limits, T(32769), "webgpu backend"))).toMatch(
      /^webgpu backend: with T = 32769, the largest index value of kernel \w+ \(broadcastTo, reduceSum.*is 2147\d{6}, more than the 2\^31 - 1/,
    );
    expect(() => checkSizeLimits(b.limits, T(32767), "webgpu backend")).not.toThrow();
  });

  it("the webgpu backend fails at bind time instead of returning 0", async () => {
    const ctx = await webgpuForTests();
    if (!ctx) return; // skipped loudly by webgpuForTests; CI fails instead
    const x = castOp(reshape(arange(32769), [32769, 1]), "f32");
    expect(thrown(() => webgpuBackend.run(symbolicSum, [x]))).toMatch(
      /webgpu backend: with T = 32769, .*reduceSum.* more than the 2\^31 - 1/,
    );
  });
});

describe("js: index math that may pass 2^31 uses plain numbers", () => {
  it("a launch whose indices pass 2^32 computes the right values", () => {
    const x = castOp(reshape(arange(M), [M, 1]), "f32");
    expect(Array.from(runBundle(compile(tailProgram, { target: "js" }), [x.dataSync()], T(0))[0]!)).toEqual([
      M - 1,
      M - 1,
      M - 1,
    ]);
  });

  it("symbolic products are never Math.imul; the static 2^31 reduce loop is exact", () => {
    const src = compile(symbolicSum, { target: "js" })
      .kernels.map((k) => k.source)
      .join("\n");
    expect(src).not.toMatch(/Math\.imul\(mf_d_T/);
    expect(src).toMatch(/r0 < \(mf_d_T \* 65536\)/);
    expect(
      compile(hugeSum, { target: "js" })
        .kernels.map((k) => k.source)
        .join("\n"),
    ).toMatch(/r0 < 2147488281/);
  });
});

describe("wasm (the cpu default): i32 kernels, JS where static index math passes 2^31", () => {
  it("a launch whose indices pass 2^32 runs as JS and computes the right values, through jit too", () => {
    const b = compile(tailProgram, { target: "wasm" });
    expect(b.kernels.every((k) => !k.source.startsWith("wasm:"))).toBe(true);
    const x = castOp(reshape(arange(M), [M, 1]), "f32");
    expect(Array.from(runBundle(b, [x.dataSync()], T(0))[0]!)).toEqual([M - 1, M - 1, M - 1]);
    expect(Array.from(jit(tail, { backend: "cpu" })(x).dataSync())).toEqual([M - 1, M - 1, M - 1]);
    // Kernels that fit stay wasm.
    expect(compile(fitsSum, { target: "wasm" }).kernels.some((k) => k.source.startsWith("wasm:"))).toBe(true);
  });

  it("named dims are checked when the wasm runtime binds them: a clear error past 2^31, right values below", () => {
    const b = compile(symbolicSum, { target: "wasm" });
    expect(thrown(() => runBundle(b, [new Float32Array(32769).fill(1)], T(32769)))).toMatch(
      new RegExp(
        /^cpu runtime \(wasm\): with T = 32769, the largest index value of kernel \w+ \(broadcastTo, reduceSum.*is 2147\d{6}, /
          .source + /more than the 2\^31 - 1 it allows \(wasm index math is i32\)/.source,
      ),
    );
    expect(Array.from(runBundle(b, [new Float32Array(3).fill(1)], T(3))[0]!)).toEqual([3 * 65536]);
  });
});

describe("cpu targets: buffers past 2^31 elements", () => {
  for (const [target, runtime] of [
    ["js", "cpu runtime"],
    ["wasm", "cpu runtime \\(wasm\\)"],
  ] as const) {
    it(`${target}: a compile error when static, a bind-time error for named dims`, () => {
      const huge = trace((x: Tensor) => mul(x, 2), spec([M, M]));
      expect(thrown(() => compile(huge, { target }))).toMatch(
        /element count of buffer \w+ \(input, \[4294967296\]\) is 4294967296, more than the 2\^31 - 1/,
      );
      const b = compile(
        trace((x: Tensor) => mul(x, 2), spec(["T", M])),
        { target },
      );
      expect(thrown(() => runBundle(b, [new Float32Array(0)], T(32769)))).toMatch(
        new RegExp(
          `^${runtime}: with T = 32769, the element count of buffer \\w+ \\(input, \\[T\\*65536\\]\\) is 2147549184, more than the 2\\^31 - 1`,
        ),
      );
    });
  }
});

/** Kernel sources of a bundle without the prelude. */
const kernelText = (b: { kernels: readonly { source: string }[] }) =>
  b.kernels.map((k) => k.source.slice(k.source.indexOf('extern "C"'))).join("\n");

describe("cuda: long long where a size can pass 2^31", () => {
  it("64-bit literals and counters where static sizes pass 2^31, int where they fit", () => {
    const tailSrc = kernelText(compile(tailProgram, { target: "cuda" }));
    expect(tailSrc).toMatch(/const long long flat0 = \(gid0 \+ 4294967293LL\);/);
    expect(tailSrc).toMatch(/const int gid0 = /);
    expect(kernelText(compile(hugeSum, { target: "cuda" }))).toMatch(/for \(long long r0 = \w+; r0 < 2147488281LL;/);
  });

  /** Integer literals of kernel text past 2^31 - 1 without a 64-bit suffix (a wrapped size in an int). */
  const intLiteralsPastI32 = (src: string) =>
    [...src.matchAll(/(?<![\w.])\d{10,}(?![\d.])(?!LL)/g)].map((m) => Number(m[0])).filter((n) => n > 2 ** 31 - 1);

  for (const [cfg, wide] of [
    [{ ...BENCH_MOE, T: 2 ** 23 }, "2147483648LL"], // T * D = 2^31 elements
    [{ ...BENCH_MOE, T: 2 ** 20, D: 4096 }, "4294967296LL"], // T * D = 2^32 elements
  ] as const) {
    it(`the benchmark MoE layer at T = ${cfg.T}, D = ${cfg.D} has no wrapped guard or bound (forward and gradient)`, () => {
      const { forward, gradient } = moePrograms(cfg);
      for (const p of [forward, gradient]) {
        const src = kernelText(compile(p, { target: "cuda" }));
        expect(src).not.toMatch(/INT_MIN|-2147483647 - 1|\(-\d{9,}\)/);
        expect(intLiteralsPastI32(src)).toEqual([]);
        expect(src).toContain(wide); // the element count, 64-bit
      }
    });
  }

  it("named dims: the host launcher and the backend check the limits", () => {
    const b = compile(symbolicSum, { target: "cuda" });
    expect(thrown(() => checkSizeLimits(b.limits, T(2 ** 31), "cuda backend"))).toMatch(
      /dim T is 2147483648, more than the 2\^31 - 1/,
    );
    const { cu } = cudaBundleSource(b, { prefix: "sym" });
    expect(cu).toMatch(/static int sym_check_limits/);
    expect(cu).toMatch(/if \(n > 2147483647LL\) return sym_fail/);
    expect(
      thrown(() =>
        compile(
          trace((i: Tensor) => castOp(i, "f32"), spec([3 * 2 ** 30], "i32")),
          { target: "cuda" },
        ),
      ),
    ).toMatch(/op "cast".*axis of 3221225472 elements, more than the 2\^31 - 1/);
  });

  it.skipIf(!findNvcc())(
    "nvcc compiles the MoE kernels at T = 2^23 that wrapped before, and a symbolic bundle, host warnings as errors",
    async () => {
      // The whole layer takes minutes of ptxas on a small machine: its scatter and reduce kernels
      // (the ones whose guard or bound wrapped) and the host launcher of a bundle with limits.
      const { gradient } = moePrograms({ ...BENCH_MOE, T: 2 ** 23 });
      const wrapped = compile(gradient, { target: "cuda" }).kernels.filter((k) => /scatter_sum|reduce/.test(k.name));
      expect(wrapped.length).toBeGreaterThan(2);
      const cu = [
        cudaSource(wrapped),
        cudaBundleSource(compile(symbolicSum, { target: "cuda" }), { prefix: "sym" }).cu,
      ];
      const source = cu.join("\n");
      const r = await compileCuda(source, { archs: ["sm_80"], extraFlags: HOST_WARNINGS_AS_ERRORS });
      if (!r.ok) throw new Error(formatDiagnostics(r, source));
    },
    300_000,
  );
});
