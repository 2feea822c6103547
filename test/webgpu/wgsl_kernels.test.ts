/**
 * The WGSL emitter and the WebGPU runtime on hand-built kernels, run on a real
 * device (Dawn; SwiftShader on machines without a GPU). Covers: compilation
 * with no errors, elementwise tails at sizes 1/primes, shared-memory tree
 * reductions with barriers, integer atomics, Threefry bits equal to the
 * interpreter's, scalar edge cases (inf/NaN constants, i32 division by zero,
 * pow of negative bases, log1p), launch folding past 65535 workgroups, and
 * buffers split into chunks over the binding limit.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { bin, c, cast, load, un, type Expr, type Kernel, type Stmt } from "../../codegen/kernel_ir";
import { emitWgsl, wgslLayout } from "../../codegen/emit/wgsl";
import { threefry2x32 } from "../../dsl/primitives/random";
import { relativeError } from "../../testing/random_programs";
import { wgslCompilationMessages } from "../../backends/webgpu/pipelines";
import { runWgslBundle } from "../../backends/webgpu/runtime";
import {
  buf,
  bundleOf,
  ceilDiv,
  fill,
  groupIds,
  histogram,
  randomBits,
  reverse,
  rowSum,
  scaleExp,
} from "./hand_kernels";
import { separateWebGPUForTests, webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
// A second device whose bindings hold at most 128 f32: buffers of a few hundred elements get split.
const tinyBindings = ctx ? await separateWebGPUForTests({ maxBindingBytes: 512 }) : undefined;
const n = (x: number) => new Map([["n", x]]);

describe.runIf(ctx)("WGSL emitter on Dawn", () => {
  it("every hand-built kernel compiles with no errors or warnings in getCompilationInfo", async () => {
    for (const k of [
      scaleExp,
      rowSum,
      histogram,
      reverse,
      randomBits,
      groupIds,
      fill("i32"),
      fill("bool", 1),
      scalarProbe,
    ]) {
      const messages = await wgslCompilationMessages(ctx!, emitWgsl(k));
      expect(messages.map((m) => `${k.name}: ${m.type} ${m.message}`)).toEqual([]);
    }
  });

  it("elementwise kernel with a tail guard: sizes 1, primes and multiples of the workgroup", async () => {
    // 4-7 random sizes per run plus the fixed edge sizes.
    const sizes = [1, 2, 63, 64, 65, 127, 1009, ...fc.sample(fc.integer({ min: 1, max: 5000 }), 4)];
    for (const len of sizes) {
      const x = Float32Array.from({ length: len }, (_, j) => Math.sin(j) * 3);
      const bundle = bundleOf(
        [scaleExp],
        [buf("x", "f32", "n", "input"), buf("y", "f32", "n", "output")],
        [{ kernel: "scale_exp", grid: ceilDiv("n", 64), bindings: { x: "x", y: "y" } }],
        ["n"],
      );
      const [y] = await runWgslBundle(ctx!, bundle, [{ type: "f32", data: x }], n(len));
      const want = Array.from(x, (a, j) => Math.fround(Math.exp(a)) * 2 + j);
      expect(relativeError(y!, want, 1e-30)).toBeLessThan(1e-5);
    }
  });

  it("shared-memory tree reduction (barriers) gives row sums", async () => {
    for (const [rows, cols] of [
      [1, 1],
      [3, 7],
      [5, 64],
      [2, 1000],
    ] as const) {
      const x = Float32Array.from({ length: rows * cols }, (_, j) => ((j * 37) % 11) - 5);
      const bundle = bundleOf(
        [rowSum],
        [buf("x", "f32", { op: "mul", args: ["rows", "cols"] }, "input"), buf("y", "f32", "rows", "output")],
        [{ kernel: "row_sum", grid: "rows", bindings: { x: "x", y: "y" } }],
        ["rows", "cols"],
      );
      const [y] = await runWgslBundle(
        ctx!,
        bundle,
        [{ type: "f32", data: x }],
        new Map([
          ["rows", rows],
          ["cols", cols],
        ]),
      );
      const want = Array.from({ length: rows }, (_, r) => x.slice(r * cols, (r + 1) * cols).reduce((a, b) => a + b, 0));
      expect(Array.from(y!)).toEqual(want);
    }
  });

  it("integer atomics count repeated indices; launches run in order (zero fill first)", async () => {
    const idx = Int32Array.from({ length: 1000 }, (_, j) => (j * j) % 13);
    const bundle = bundleOf(
      [fill("i32", 0, "bins"), histogram],
      [buf("idx", "i32", "n", "input"), buf("counts", "i32", "bins", "output")],
      [
        { kernel: "fill_i32", grid: 1, bindings: { out: "counts" } },
        { kernel: "histogram", grid: ceilDiv("n", 64), bindings: { idx: "idx", counts: "counts" } },
      ],
      ["n", "bins"],
    );
    const [counts] = await runWgslBundle(
      ctx!,
      bundle,
      [{ type: "i32", data: idx }],
      new Map([
        ["n", 1000],
        ["bins", 13],
      ]),
    );
    const want = new Array(13).fill(0);
    for (const j of idx) want[j]++;
    expect(Array.from(counts!)).toEqual(want);
  });

  it("Threefry-2x32 bits equal the interpreter's, word for word", async () => {
    const key = [0x12345678 | 0, 0x9abcdef0 | 0];
    const len = 257;
    const bundle = bundleOf(
      [randomBits],
      [buf("key", "i32", 2, "input"), buf("out", "i32", "n", "output")],
      [{ kernel: "random_bits", grid: ceilDiv("n", 64), bindings: { key: "key", out: "out" } }],
      ["n"],
    );
    const [out] = await runWgslBundle(ctx!, bundle, [{ type: "i32", data: key }], n(len));
    const want = Array.from({ length: len }, (_, j) => threefry2x32(key[0]!, key[1]!, 0, j >>> 1)[j & 1]! | 0);
    expect(Array.from(out!)).toEqual(want);
  });

  it("scalar semantics match the interpreter's JS definitions at the edges", async () => {
    const bundle = bundleOf(
      [scalarProbe],
      [
        buf("a", "f32", 4, "input"),
        buf("ai", "i32", 4, "input"),
        buf("b", "bool", 2, "input"),
        buf("of", "f32", F_CASES.length, "output"),
        buf("oi", "i32", I_CASES.length, "output"),
        buf("ob", "bool", B_CASES.length, "output"),
      ],
      [{ kernel: "scalar_probe", grid: 1, bindings: { a: "a", ai: "ai", b: "b", of: "of", oi: "oi", ob: "ob" } }],
    );
    const [of, oi, ob] = await runWgslBundle(ctx!, bundle, [
      { type: "f32", data: A },
      { type: "i32", data: AI },
      { type: "bool", data: B },
    ]);
    F_CASES.forEach(([name, , want], k) => {
      const got = of![k]!;
      if (Number.isNaN(want)) expect(got, name).toBeNaN();
      else if (!Number.isFinite(want) || want === 0) expect(got, name).toBe(want);
      else expect(Math.abs(got - want) / Math.abs(want), name).toBeLessThan(2e-6);
    });
    expect(Object.fromEntries(I_CASES.map(([name], k) => [name, oi![k]]))).toEqual(
      Object.fromEntries(I_CASES.map(([name, , want]) => [name, want])),
    );
    expect(Array.from(ob!)).toEqual(B_CASES.map(([, , want]) => want));
  });

  it("folds launches past 65535 workgroups; surplus groups of the fold do not run", async () => {
    const groups = 70001; // folds to 35001 x 2: one surplus group
    const bundle = bundleOf(
      [fill("i32", -1), groupIds],
      [buf("out", "i32", groups + 64, "output")],
      [
        { kernel: "fill_i32", grid: ceilDiv(groups + 64, 64), bindings: { out: "out" } },
        { kernel: "group_ids", grid: groups, bindings: { out: "out" } },
      ],
      ["n"],
    );
    const [out] = await runWgslBundle(ctx!, bundle, [], n(groups + 64));
    const want = Array.from({ length: groups + 64 }, (_, g) => (g < groups ? groups - g : -1));
    expect(firstMismatch(out!, want)).toBe(-1);
  });

  it("f64 is a compile-time error naming the kernel", () => {
    const k: Kernel = { ...scaleExp, params: [{ name: "x", type: "f64", access: "read" }, scaleExp.params[1]!] };
    expect(() => emitWgsl(k)).toThrow(/kernel "scale_exp".*f64/);
  });
});

describe.runIf(tinyBindings)("buffers over the binding limit are split into chunks", () => {
  it("the layout gives each chunk its own binding", () => {
    const layout = wgslLayout(reverse, { splits: { x: { chunks: 3, chunkElements: 128 } } });
    expect(layout.params.map((p) => p.bindings)).toEqual([[0, 1, 2], [3]]);
    expect(layout.uniformBinding).toBe(4);
  });

  it("reversal across chunks (300 f32 = 3 chunks of 128) matches", async () => {
    for (const len of [129, 300, 383]) {
      const x = Float32Array.from({ length: len }, (_, j) => j * 0.5 - 7);
      const bundle = bundleOf(
        [reverse],
        [buf("x", "f32", "n", "input"), buf("y", "f32", "n", "output")],
        [{ kernel: "reverse", grid: ceilDiv("n", 32), bindings: { x: "x", y: "y" } }],
        ["n"],
      );
      const [y] = await runWgslBundle(tinyBindings!, bundle, [{ type: "f32", data: x }], n(len));
      expect(Array.from(y!)).toEqual(Array.from(x).reverse());
    }
  });

  it("atomics and stores into split buffers", async () => {
    const bins = 300;
    const idx = Int32Array.from({ length: 500 }, (_, j) => (j * 7919) % bins);
    const bundle = bundleOf(
      [fill("i32", 0, "bins"), histogram],
      [buf("idx", "i32", "n", "input"), buf("counts", "i32", "bins", "output")],
      [
        { kernel: "fill_i32", grid: ceilDiv("bins", 64), bindings: { out: "counts" } },
        { kernel: "histogram", grid: ceilDiv("n", 64), bindings: { idx: "idx", counts: "counts" } },
      ],
      ["n", "bins"],
    );
    const [counts] = await runWgslBundle(
      tinyBindings!,
      bundle,
      [{ type: "i32", data: idx }],
      new Map([
        ["n", 500],
        ["bins", bins],
      ]),
    );
    const want = new Array(bins).fill(0);
    for (const j of idx) want[j]++;
    expect(Array.from(counts!)).toEqual(want);
  });
});

// ---------------------------------------------------------------- scalar probe kernel

const A = [1e-7, -2, 100, -7.5];
const AI = [7, 0, -7, -16];
const B = [1, 0];
const fa = (k: number) => load("a", c(k), "f32");
const ia = (k: number) => load("ai", c(k), "i32");
const f = (value: number) => c(value, "f32");
const INT_MIN = -2147483648;

const F_CASES: [string, Expr, number][] = [
  ["+inf", f(Infinity), Infinity],
  ["-inf", f(-Infinity), -Infinity],
  ["nan", f(NaN), NaN],
  ["log1p tiny", un("log1p", fa(0), "f32"), Math.log1p(Math.fround(1e-7))],
  ["pow(-2, 3)", bin("pow", fa(1), f(3), "f32"), -8],
  ["pow(-2, 0.5)", bin("pow", fa(1), f(0.5), "f32"), NaN],
  ["pow(0, -1)", bin("pow", f(0), f(-1), "f32"), Infinity],
  ["tanh(100)", un("tanh", fa(2), "f32"), 1],
  ["tanh(-100)", un("tanh", un("neg", fa(2), "f32"), "f32"), -1],
  [
    "bitsToUniform(max)",
    { kind: "call", fn: "bitsToUniform", args: [c(0xffffffff, "u32")], type: "f32" },
    (2 ** 24 - 1) * 2 ** -24,
  ],
  ["0.1", f(0.1), Math.fround(0.1)],
  ["-max f32", f(-3.4028234663852886e38), -3.4028234663852886e38],
  ["rem(-7.5, 2)", bin("rem", fa(3), f(2), "f32"), -1.5],
  ["f32(true)", cast(c(1, "bool"), "f32"), 1],
  ["select", { kind: "select", cond: bin("gt", fa(0), f(0), "bool"), onTrue: f(5), onFalse: f(6), type: "f32" }, 5],
  ["rsqrt(4)", un("rsqrt", f(4), "f32"), 0.5],
  ["sign(-3)", un("sign", f(-3), "f32"), -1],
  ["sigmoid(-30)", un("sigmoid", f(-30), "f32"), Math.fround(1 / (1 + Math.exp(30)))],
  ["sigmoid(100)", un("sigmoid", fa(2), "f32"), 1],
  ["f32(i32 -7)", cast(ia(2), "f32"), -7],
  ["max(NaN, 1)", bin("max", f(NaN), f(1), "f32"), NaN],
  ["min(1, NaN)", bin("min", fa(0), f(NaN), "f32"), NaN],
  ["max(-2, 1e-7)", bin("max", fa(1), fa(0), "f32"), Math.fround(1e-7)],
];

const I_CASES: [string, Expr, number][] = [
  ["INT_MIN", c(INT_MIN), INT_MIN],
  ["7 / 0", bin("div", ia(0), ia(1), "i32"), 0],
  ["-7 / 2", bin("div", ia(2), c(2), "i32"), -3],
  ["-7 % 2", bin("rem", ia(2), c(2), "i32"), -1],
  ["7 % 0", bin("rem", ia(0), ia(1), "i32"), 0],
  ["1 << 31", bin("shl", c(1), c(31), "i32"), INT_MIN],
  ["-16 >> 2", bin("shr", ia(3), c(2), "i32"), -4],
  ["u32(-16) >> 2", cast(bin("shr", cast(ia(3), "u32"), c(2, "u32"), "u32"), "i32"), (0xfffffff0 >>> 2) | 0],
  ["i32(-2.7)", cast(f(-2.7), "i32"), -2],
  ["~5", un("bitNot", c(5), "i32"), -6],
  ["abs(-7)", un("abs", ia(2), "i32"), 7],
  ["65536 * 65537", bin("mul", c(65536), c(65537), "i32"), Math.imul(65536, 65537)],
  ["max(7, -7)", bin("max", ia(0), ia(2), "i32"), 7],
  ["-(7)", un("neg", ia(0), "i32"), -7],
  ["i32(true)", cast(c(1, "bool"), "i32"), 1],
];

const bl = (k: number) => load("b", c(k), "bool");
const B_CASES: [string, Expr, number][] = [
  ["!b0", un("not", bl(0), "bool"), 0],
  ["b0 && b1", bin("and", bl(0), bl(1), "bool"), 0],
  ["b0 || b1", bin("or", bl(0), bl(1), "bool"), 1],
  ["a0 > 0", bin("gt", fa(0), f(0), "bool"), 1],
  ["b1 == false", bin("eq", bl(1), c(0, "bool"), "bool"), 1],
];

const stores = (buffer: string, cases: [string, Expr, number][]): Stmt[] =>
  cases.flatMap(([name, value], k): Stmt[] => [
    { kind: "comment", text: name },
    { kind: "store", buffer, index: c(k), value },
  ]);

const scalarProbe: Kernel = {
  name: "scalar_probe",
  comment: "edge cases of every op table entry",
  params: [
    { name: "a", type: "f32", access: "read" },
    { name: "ai", type: "i32", access: "read" },
    { name: "b", type: "bool", access: "read" },
    { name: "of", type: "f32", access: "readWrite" },
    { name: "oi", type: "i32", access: "readWrite" },
    { name: "ob", type: "bool", access: "readWrite" },
  ],
  sizes: [],
  shared: [],
  workgroupSize: 1,
  body: [...stores("of", F_CASES), ...stores("oi", I_CASES), ...stores("ob", B_CASES)],
};

// ---------------------------------------------------------------- helpers

function firstMismatch(got: ArrayLike<number>, want: ArrayLike<number>): number {
  for (let j = 0; j < want.length; j++) if (got[j] !== want[j]) return j;
  return got.length === want.length ? -1 : want.length;
}
