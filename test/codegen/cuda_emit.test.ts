/**
 * The CUDA emitter without nvcc: literals, type rules, 64-bit index widening,
 * rejected kernels (clear compile-time errors naming the op / buffer / dtype),
 * the bundle checks, and the host-side f16 conversion. nvcc-backed checks are
 * in cuda_nvcc.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cudaEmitter, emitCudaKernel } from "../../codegen/emit/cuda";
import { floatLiteral, literal } from "../../codegen/emit/cuda_types";
import { getEmitter } from "../../codegen/emit/emitter";
import {
  bin,
  c,
  cast,
  load,
  size,
  un,
  v,
  type Expr,
  type Kernel,
  type KernelBundle,
  type Stmt,
} from "../../codegen/kernel_ir";
import { cudaBundleSource } from "../../backends/cuda/bundle";
import { aliasedKernels, checkCudaBundle } from "../../backends/cuda/bundle_check";
import { fromHalfBits, toHalfBits } from "../../dsl/half";
import { decodeFromDevice, encodeForDevice } from "../../backends/cuda/runner";
import { clampedShift, gatherRows, handKernels, rowSum } from "./cuda_hand_kernels";
import { constantBundle, matmulReduceBundle, mixedBundle } from "./cuda_hand_bundles";

const kernel = (body: Stmt[], extra: Partial<Kernel> = {}): Kernel => ({
  name: "k",
  params: [
    { name: "x", type: "f32", access: "read" },
    { name: "y", type: "f32", access: "readWrite" },
  ],
  sizes: ["N"],
  shared: [],
  workgroupSize: 64,
  body,
  ...extra,
});

const thrown = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return String(e);
  }
  throw new Error("expected an error");
};

describe("CUDA literals", () => {
  it("float literals read back as the same float32 (200 runs)", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const text = floatLiteral(x).replace(/^\(|\)$/g, "");
        expect(text.endsWith("f")).toBe(true);
        expect(Object.is(Math.fround(Number(text.slice(0, -1))), Math.fround(x))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("spells special values and integer extremes without overflow", () => {
    expect(floatLiteral(NaN)).toBe("__int_as_float(0x7fc00000)");
    expect(floatLiteral(-Infinity)).toBe("(-__int_as_float(0x7f800000))");
    expect(floatLiteral(-0)).toBe("(-0.0f)");
    expect(floatLiteral(0.1)).toBe("0.1f");
    expect(floatLiteral(3)).toBe("3.0f");
    expect(literal(-2147483648, "i32")).toBe("(-2147483647 - 1)");
    expect(literal(2 ** 32 - 1, "u32")).toBe("4294967295u");
    expect(literal(1, "bool")).toBe("true");
  });
});

describe("CUDA emitter", () => {
  it("is registered for the cuda target, and reports f64 as unsupported", () => {
    expect(getEmitter("cuda")).toBe(cudaEmitter);
    expect(cudaEmitter.supports("f32")).toBe(true);
    expect(cudaEmitter.supports("f64")).toMatch(/f64/);
    expect(cudaEmitter.render(rowSum)).toContain('extern "C" __global__ void __launch_bounds__(256) row_sum(');
  });

  it("renders params, sizes, shared arrays, barriers and the Program's comment", () => {
    const src = emitCudaKernel(rowSum);
    expect(src).toContain(
      "const float* __restrict__ x, float* __restrict__ out, int R, int C, long long mf_num_groups",
    );
    expect(src).toContain("__shared__ float partial[256];");
    expect(src).toContain("__syncthreads();");
    expect(src).toContain("// kernel row_sum (256 threads per block)\n//   out = reduceSum(x, axis 1)");
    expect(emitCudaKernel(rowSum, { restrict: false })).not.toContain("__restrict__");
  });

  it("computes index products in 64 bits, also from loaded indices, and keeps data math 32-bit", () => {
    const src = emitCudaKernel(gatherRows);
    expect(src).toContain("for (long long e = mf_global; e < ((long long)T * D);");
    expect(src).toContain("table[(((long long)src * D) + d)]");
    expect(src).toContain("const int src = idx[t];");
    // f16 is storage: loads widen to float, stores round to half.
    expect(src).toContain("rows[e] = __float2half(__half2float(table[");
  });

  it("casts both arguments of mf_max/mf_min to one type when an index meets a 32-bit value", () => {
    expect(emitCudaKernel(clampedShift)).toContain(
      "const long long j = mf_min(mf_max((i - 4), (long long)0), ((long long)N - 1));",
    );
  });

  it("marks variables that are never read [[maybe_unused]] (nvcc -Werror rejects unused variables)", () => {
    expect(emitCudaKernel(gatherRows)).toContain("[[maybe_unused]] const float unusedScale = 0.1f;");
  });

  it("renames identifiers that collide with C++ keywords or the emitter's own names", () => {
    const src = emitCudaKernel(
      kernel([
        { kind: "let", name: "float", type: "f32", init: load("x", c(0), "f32") },
        { kind: "let", name: "mf_global", type: "f32", init: v("float", "f32") },
        { kind: "store", buffer: "y", index: c(0), value: v("mf_global", "f32") },
      ]),
    );
    expect(src).toContain("const float float_ = x[0];");
    expect(src).toContain("const float mf_global_ = float_;");
    // One sanitiser for every C-family target: characters C++ rejects become "_".
    expect(emitCudaKernel(kernel([{ kind: "let", name: "a-b", type: "f32", init: c(0, "f32") }]))).toContain(
      "[[maybe_unused]] const float a_b = 0.0f;",
    );
  });

  it("keeps comments from splicing code into them (a trailing backslash continues a C++ line comment)", () => {
    const src = emitCudaKernel(
      kernel(
        [
          { kind: "comment", text: "path C:\\\\" },
          { kind: "store", buffer: "y", index: c(0), value: c(1, "f32") },
        ],
        { comment: "a \\" },
      ),
    );
    expect(src).toContain("  // path C:\n  y[0] = 1.0f;");
    expect(src).toContain("//   a \n");
  });

  it("rejects kernels it cannot express, naming the kernel and the cause", () => {
    const store = (value: Expr): Stmt[] => [{ kind: "store", buffer: "y", index: c(0), value }];
    const intOut = { params: [{ name: "y", type: "i32" as const, access: "readWrite" as const }] };
    expect(thrown(() => emitCudaKernel(kernel(store(bin("pow", c(1), c(2), "i32")), intOut)))).toMatch(
      /binary op "pow" has no CUDA lowering for int/,
    );
    expect(thrown(() => emitCudaKernel(kernel(store(c(1, "f64")))))).toMatch(/f64 is not supported by the CUDA target/);
    expect(thrown(() => emitCudaKernel(kernel([], { workgroupSize: 2048 })))).toMatch(
      /workgroup size 2048 is outside CUDA's 1..1024/,
    );
    expect(thrown(() => emitCudaKernel(kernel([], { shared: [{ name: "s", type: "f32", length: 20000 }] })))).toMatch(
      /80000 bytes, more than the 49152/,
    );
    expect(thrown(() => emitCudaKernel(kernel([], { params: [{ name: "x", type: "f64", access: "read" }] })))).toMatch(
      /buffer "x": dtype f64 is not supported/,
    );
  });

  it("rejects ill-formed kernels through the verifier, naming the kernel and the statement", () => {
    const store = (value: Expr): Stmt[] => [{ kind: "store", buffer: "y", index: c(0), value }];
    const rejected = (body: Stmt[]) => thrown(() => emitCudaKernel(kernel(body)));
    expect(rejected(store(un("exp", c(1), "i32")))).toMatch(/KernelVerifyError: kernel "k": `store y.*exp of i32/);
    expect(rejected(store(load("z", c(0), "f32")))).toMatch(/loads from "z", which is not a param/);
    expect(rejected(store(load("x", c(0), "i32")))).toMatch(/loads a i32 from "x" of f32/);
    expect(rejected(store(cast(size("M"), "f32")))).toMatch(/reads size "M", which is not in the kernel's sizes/);
    expect(rejected([{ kind: "store", buffer: "x", index: c(0), value: c(1, "f32") }])).toMatch(
      /writes "x", which is declared read-only/,
    );
    expect(rejected([{ kind: "atomicAdd", buffer: "y", index: c(0), value: c(1, "f32") }])).toMatch(
      /atomicAdd on "y", which is not declared atomic/,
    );
    expect(rejected([{ kind: "assign", name: "q", value: c(1, "f32") }])).toMatch(
      /assigns to "q", which is not declared/,
    );
  });

  it("renders all hand-built kernels (one per op and dtype, casts, reductions, matmul, atomics, random)", () => {
    const kernels = handKernels();
    expect(kernels.length).toBeGreaterThan(100);
    for (const k of kernels)
      expect(emitCudaKernel(k)).toContain(`void __launch_bounds__(${k.workgroupSize}) ${k.name}(`);
  });
});

describe("CUDA bundles (source only)", () => {
  it("checks names, dims and binding types with errors that say what is wrong", () => {
    const bad = (patch: Partial<KernelBundle>) => thrown(() => checkCudaBundle({ ...matmulReduceBundle, ...patch }));
    expect(bad({ target: "wgsl" })).toMatch(/compiled for target "wgsl"/);
    expect(bad({ dims: ["M", "K", "N", "R", "C"] })).toMatch(/dim "E", which is not among the bundle's dims/);
    expect(bad({ schedule: [{ kernel: "nope", grid: 1, bindings: {} }] })).toMatch(/launch 0 runs kernel "nope"/);
    expect(bad({ schedule: [{ ...matmulReduceBundle.schedule[1]!, bindings: { x: "ids", out: "rows" } }] })).toMatch(
      /binds f32 param "x" to i32 buffer "ids"/,
    );
    expect(bad({ schedule: [{ ...matmulReduceBundle.schedule[1]!, bindings: { x: "xw" } }] })).toMatch(
      /binds no buffer to param "out"/,
    );
    expect(bad({ outputs: ["missing"] })).toMatch(/"missing" is not a declared buffer/);
    expect(bad({ buffers: [{ ...matmulReduceBundle.buffers[0]!, name: "x%s" }] })).toMatch(
      /buffer name "x%s" is not a plain identifier/,
    );
    expect(thrown(() => cudaBundleSource(matmulReduceBundle, { prefix: "9x" }))).toMatch(
      /prefix "9x" must be a C identifier/,
    );
  });

  it("drops __restrict__ exactly for kernels launched with a written buffer bound twice", () => {
    expect([...aliasedKernels(mixedBundle)]).toEqual(["unary_exp_f32"]);
    expect([...aliasedKernels(matmulReduceBundle)]).toEqual([]);
    const { cu } = cudaBundleSource(mixedBundle, { prefix: "mix" });
    expect(cu).toContain("mix_unary_exp_f32(const float* x, float* y, int N, long long mf_num_groups)");
    expect(cu).toContain("mix_random_uniform(const int* __restrict__ key,");
  });

  it("emits a C API whose header lists dims, inputs and outputs, and stores consts as exact bits", () => {
    const { cu, header, headerName } = cudaBundleSource(constantBundle, { prefix: "konst" });
    expect(headerName).toBe("konst.h");
    expect(cu.startsWith("// Generated by moeforge")).toBe(true);
    expect(cu).toContain(header);
    expect(header).toContain("int konst_create(const int64_t* dims, int num_dims, konst_ctx** out);");
    expect(header).toContain("//   0: out f32[4]");
    // 1.5, -0, NaN, -Infinity as float32 bit patterns.
    expect(cu).toContain("static const uint32_t konst_const_c[4] = {0x3fc00000, 0x80000000, 0x7fc00000, 0xff800000};");
    expect(cu).toContain(
      "konst_copy_const<<<grid, 4, 0, ctx->stream>>>((const float*)ctx->buf[0], (float*)ctx->buf[1], groups);",
    );
  });
});

describe("runner data layout", () => {
  it("encodes host arrays as the device bytes of each dtype and decodes them back", () => {
    const f32 = Float32Array.from([1.5, -0, NaN, 3e38]);
    expect(Array.from(decodeFromDevice("f32", encodeForDevice("f32", f32)))).toEqual(Array.from(f32));
    expect(encodeForDevice("f32", f32).length).toBe(16);
    const i32 = Int32Array.from([-(2 ** 31), -1, 0, 2 ** 31 - 1]);
    expect(Array.from(decodeFromDevice("i32", encodeForDevice("i32", i32)))).toEqual(Array.from(i32));
    const bools = Uint8Array.from([1, 0, 1]);
    expect(Array.from(encodeForDevice("bool", bools))).toEqual([1, 0, 1]);
    expect(Array.from(decodeFromDevice("bool", encodeForDevice("bool", bools)))).toEqual([1, 0, 1]);
    // f16 travels as __half bits: two bytes per element, rounded to half precision.
    const half = encodeForDevice("f16", Float32Array.from([1, 0.1, -65504]));
    expect(Array.from(new Uint16Array(half.buffer))).toEqual([0x3c00, 0x2e66, 0xfbff]);
    expect(Array.from(decodeFromDevice("f16", half))).toEqual([1, fromHalfBits(0x2e66), -65504]);
    expect(() => encodeForDevice("f64", new Float64Array(1))).toThrow(/no f64 buffers/);
  });

  it("decodes a Node Buffer view into a larger file (as read back from out.bin) without its neighbours", () => {
    // out.bin: i64 byte count, then the bytes; the runner decodes a subarray of the whole file.
    const values = Float32Array.from([0.25, -7, 1e-3]);
    const file = Buffer.concat([
      Buffer.from(new BigInt64Array([12n]).buffer),
      Buffer.from(values.buffer),
      Buffer.from([9, 9, 9, 9]),
    ]);
    const decoded = decodeFromDevice("f32", file.subarray(8, 20));
    expect(decoded.length).toBe(3);
    expect(Array.from(decoded)).toEqual(Array.from(values));
    const ints = Buffer.concat([Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]), Buffer.from(Int32Array.from([-3, 11]).buffer)]);
    expect(Array.from(decodeFromDevice("i32", ints.subarray(8)))).toEqual([-3, 11]);
  });
});

describe("f16 host conversion", () => {
  it("matches known binary16 encodings", () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [3 * 2 ** -26, 0x0001],
      [2 ** -14, 0x0400],
      [0.1, 0x2e66],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
    ];
    for (const [x, bits] of cases) expect([x, toHalfBits(x)]).toEqual([x, bits]);
    expect(toHalfBits(NaN) & 0x7e00).toBe(0x7e00);
  });

  it("round-trips every binary16 value and rounds to the nearest one (all 63488 finite halves)", () => {
    const mismatches: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const x = fromHalfBits(h);
      if (Number.isFinite(x) && toHalfBits(x) !== h) mismatches.push(h);
    }
    expect(mismatches).toEqual([]);
    fc.assert(
      fc.property(fc.float({ min: -60000, max: 60000, noNaN: true }), (x) => {
        const y = fromHalfBits(toHalfBits(x));
        const ulp = 2 ** (Math.max(-14, Math.floor(Math.log2(Math.abs(x) || 1))) - 10);
        expect(Math.abs(y - x)).toBeLessThanOrEqual(ulp / 2);
      }),
    );
  });
});
