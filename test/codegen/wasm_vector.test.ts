/**
 * The wasm target's vector loops (codegen/emit/wasm/vector_kernel.ts) give the
 * scalar emitter's bits (which are the JS target's): hand-written kernels over
 * inputs with NaN, -0, infinities and integer edges, item counts with and
 * without a tail of fewer than 4, workgroup sizes that make ranges start off a
 * multiple of 4, and launches split at arbitrary workgroups (as the worker pool
 * splits them); random programs and their gradients, vectorised vs scalar, bit
 * for bit, including large ones split across the pool. And the vectoriser takes
 * the benchmark layer's elementwise kernels and declines the rest with a reason.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import "../../codegen/index";
import { compile, type CompileOptions } from "../../codegen/compile";
import { hostImportsSource } from "../../codegen/emit/wasm/imports";
import { ELEMENT_BYTES, MAX_PAGES, renderWasmKernel } from "../../codegen/emit/wasm/kernel";
import { renderVectorKernel } from "../../codegen/emit/wasm/vector_kernel";
import { vectorisable } from "../../codegen/emit/wasm/vectorise";
import {
  bin,
  builtin,
  c,
  cast,
  load,
  select,
  un,
  v,
  type Expr,
  type Kernel,
  type ScalarType,
  type Stmt,
} from "../../codegen/kernel_ir";
import { gradientCase, mulberry32, randomProgramArb, type RandomCase } from "../../testing/random_programs";
import { moeforgePrograms, PEER_LAYER } from "../../bench/peer_layer";
import { runCompiled } from "./runners";

const F32_EDGES = [NaN, -0, 0, Infinity, -Infinity, 1, -1, 1e-45, -3.4e38, 0.5];
const I32_EDGES = [0, 1, -1, 2147483647, -2147483648, 7, -8, 255];

/** Kernel y... = f(x, x2, ix) over `n` items: the lowering's skeleton `let i = i32(gid); if (i >= n) return`. */
function kernel(
  name: string,
  wg: number,
  params: readonly [string, ScalarType][],
  body: readonly Stmt[],
  n: Expr,
): Kernel {
  return {
    name,
    params: params.map(([p, type]) => ({ name: p, type, access: p.startsWith("y") ? "readWrite" : "read" })),
    sizes: ["n"].filter(() => n.kind === "size"),
    shared: [],
    workgroupSize: wg,
    body: [
      { kind: "let", name: "i", type: "i32", init: cast(builtin("globalLinear"), "i32") },
      { kind: "if", cond: bin("ge", v("i"), n, "bool"), then: [{ kind: "return" }] },
      ...body,
    ],
  };
}

const i = v("i");
const xf = (idx: Expr = i) => load("x", idx, "f32");
const x2f = (idx: Expr = i) => load("x2", idx, "f32");
const let_ = (name: string, type: ScalarType, init: Expr): Stmt => ({ kind: "let", name, type, init });
const store = (buffer: string, index: Expr, value: Expr): Stmt => ({ kind: "store", buffer, index, value });
const F: [string, ScalarType] = ["x", "f32"];
const F2: [string, ScalarType] = ["x2", "f32"];
const IX: [string, ScalarType] = ["ix", "i32"];

/** Hand-written elementwise kernels covering the vectorised op subset. */
function cases(n: Expr, wg: number): Kernel[] {
  const floatOps = ["add", "sub", "mul", "div", "min", "max"] as const;
  const compares = ["eq", "ne", "lt", "le", "gt", "ge"] as const;
  const intOps = ["add", "sub", "mul", "min", "max", "bitAnd", "bitOr", "bitXor"] as const;
  return [
    // relu forward and backward (the layer's k5 and k21)
    kernel(
      "relu",
      wg,
      [["ym", "bool"], F, ["y", "f32"]],
      [
        let_("a", "f32", xf()),
        let_("m", "bool", bin("gt", v("a", "f32"), c(0, "f32"), "bool")),
        store("ym", i, v("m", "bool")),
        store("y", i, select(v("m", "bool"), v("a", "f32"), c(0, "f32"), "f32")),
      ],
      n,
    ),
    kernel(
      "relu_bwd",
      wg,
      [["y", "f32"], ["xm", "bool"], F],
      [
        let_("m", "bool", load("xm", i, "bool")),
        let_("g", "f32", xf()),
        store("y", i, select(v("m", "bool"), v("g", "f32"), c(0, "f32"), "f32")),
      ],
      n,
    ),
    kernel(
      "float_ops",
      wg,
      [F, F2, ...floatOps.map((o) => [`y_${o}`, "f32"] as [string, ScalarType])],
      [
        let_("a", "f32", xf()),
        let_("b", "f32", x2f()),
        ...floatOps.map((o) => store(`y_${o}`, i, bin(o, v("a", "f32"), v("b", "f32"), "f32"))),
      ],
      n,
    ),
    kernel(
      "compares",
      wg,
      [F, F2, ...compares.map((o) => [`y_${o}`, "bool"] as [string, ScalarType])],
      [...compares.map((o) => store(`y_${o}`, i, bin(o, xf(), x2f(), "bool")))],
      n,
    ),
    kernel(
      "unary_casts",
      wg,
      [F, IX, ["yn", "f32"], ["ya", "f32"], ["ys", "f32"], ["yb", "bool"], ["yc", "f32"], ["yi", "bool"]],
      [
        store("yn", i, un("neg", xf(), "f32")),
        store("ya", i, un("abs", xf(), "f32")),
        store("ys", i, un("sqrt", xf(), "f32")),
        store("yb", i, cast(xf(), "bool")),
        store("yc", i, cast(load("ix", i, "i32"), "f32")),
        store("yi", i, un("not", cast(load("ix", i, "i32"), "bool"), "bool")),
      ],
      n,
    ),
    kernel(
      "int_ops",
      wg,
      [
        IX,
        ["ix2", "i32"],
        ...intOps.map((o) => [`y_${o}`, "i32"] as [string, ScalarType]),
        ["ysh", "i32"],
        ["ylt", "bool"],
      ],
      [
        ...intOps.map((o) => store(`y_${o}`, i, bin(o, load("ix", i, "i32"), load("ix2", i, "i32"), "i32"))),
        store("ysh", i, bin("shr", load("ix", i, "i32"), c(3), "i32")),
        store("ylt", i, bin("lt", load("ix", i, "i32"), load("ix2", i, "i32"), "bool")),
      ],
      n,
    ),
    kernel(
      "u32_ops",
      wg,
      [
        ["iu", "u32"],
        ["iu2", "u32"],
        ["y_max", "u32"],
        ["y_lt", "bool"],
        ["y_f", "f32"],
      ],
      [
        store("y_max", i, bin("max", load("iu", i, "u32"), load("iu2", i, "u32"), "u32")),
        store("y_lt", i, bin("lt", load("iu", i, "u32"), load("iu2", i, "u32"), "bool")),
        store("y_f", i, cast(load("iu", i, "u32"), "f32")),
      ],
      n,
    ),
    // rows of 8: x broadcast along a row (i / 8), x2 along a column (i % 8), a gather through ix, a uniform x[0], a stride
    kernel(
      "broadcast_gather",
      wg,
      [F, F2, IX, ["y", "f32"], ["y2", "f32"], ["y3", "f32"], ["y4", "f32"]],
      [
        let_("r", "i32", bin("div", i, c(8), "i32")),
        let_("col", "i32", bin("rem", i, c(8), "i32")),
        store("y", i, bin("mul", xf(v("r")), x2f(v("col")), "f32")),
        let_("g", "i32", bin("min", bin("max", load("ix", i, "i32"), c(0), "i32"), c(3), "i32")),
        store("y2", i, bin("add", x2f(bin("add", bin("mul", v("g"), c(8), "i32"), v("col"), "i32")), xf(c(0)), "f32")),
        store("y3", bin("add", i, c(0), "i32"), cast(v("col"), "f32")),
        // a strided read (stride 2, as a transpose's), lanes at constant offsets
        store("y4", i, xf(bin("mul", bin("rem", i, c(4), "i32"), c(2), "i32"))),
      ],
      n,
    ),
    // ops without a v128 form, lane by lane with the scalar cells: host transcendentals, x / 0 = 0, ToInt32
    kernel(
      "lane_by_lane",
      wg,
      [F, F2, IX, ["ix2", "i32"], ["ye", "f32"], ["yt", "f32"], ["yp", "f32"], ["yr", "f32"], ["yd", "i32"]]
        .concat([
          ["ym", "i32"],
          ["ysh", "i32"],
          ["yti", "i32"],
          ["ytu", "u32"],
          ["ysg", "f32"],
        ] as [string, ScalarType][])
        .map((p) => p as [string, ScalarType]),
      [
        store("ye", i, un("exp", xf(), "f32")),
        store("yt", i, un("tanh", xf(), "f32")),
        store("yp", i, bin("pow", xf(), x2f(), "f32")),
        store("yr", i, bin("rem", xf(), x2f(), "f32")),
        store("yd", i, bin("div", load("ix", i, "i32"), load("ix2", i, "i32"), "i32")),
        store("ym", i, bin("rem", load("ix", i, "i32"), bin("bitAnd", load("ix2", i, "i32"), c(3), "i32"), "i32")),
        store("ysh", i, bin("shl", load("ix", i, "i32"), load("ix2", i, "i32"), "i32")),
        let_("big", "f32", bin("mul", xf(), c(1e9, "f32"), "f32")),
        store("yti", i, cast(v("big", "f32"), "i32")),
        store("ytu", i, cast(xf(), "u32")),
        store("ysg", i, un("sign", xf(), "f32")),
      ],
      n,
    ),
    // the top-k combine: an f32 accumulator over a loop with uniform bounds, rows picked by a uniform index load
    kernel(
      "combine",
      wg,
      [F, F2, IX, ["y", "f32"], ["ycnt", "i32"]],
      [
        let_("r", "i32", bin("div", i, c(8), "i32")),
        let_("col", "i32", bin("rem", i, c(8), "i32")),
        { kind: "let", name: "acc", type: "f32", init: c(0, "f32"), mutable: true },
        { kind: "let", name: "cnt", type: "i32", init: c(0), mutable: true },
        {
          kind: "for",
          var: "q",
          start: c(0),
          end: c(3),
          body: [
            let_(
              "j",
              "i32",
              bin("min", bin("max", load("ix", bin("add", v("r"), v("q"), "i32"), "i32"), c(0), "i32"), c(3), "i32"),
            ),
            let_("t", "f32", xf(bin("add", v("col"), bin("mul", v("j"), c(8), "i32"), "i32"))),
            let_("p", "f32", bin("mul", v("t", "f32"), x2f(v("j")), "f32")),
            { kind: "assign", name: "acc", value: bin("add", v("acc", "f32"), v("p", "f32"), "f32") },
            {
              kind: "assign",
              name: "cnt",
              value: bin(
                "add",
                v("cnt"),
                select(bin("gt", v("t", "f32"), c(0, "f32"), "bool"), c(1), c(0), "i32"),
                "i32",
              ),
            },
          ],
        },
        store("y", i, v("acc", "f32")),
        store("ycnt", i, v("cnt")),
      ],
      n,
    ),
  ];
}

let host: Record<string, unknown> | undefined;

/** Runs a kernel module over the same inputs with the launch split at `cuts` (workgroup boundaries). */
function runModule(
  bytes: Uint8Array<ArrayBuffer>,
  k: Kernel,
  len: number,
  sizes: number[],
  cuts: number[],
  seed: number,
) {
  const memory = new WebAssembly.Memory({ initial: 64, maximum: MAX_PAGES });
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    mf: { memory, ...(host ??= new Function(`return ${hostImportsSource()}`)() as Record<string, unknown>) },
  }).exports;
  const rng = mulberry32(seed);
  const bases: number[] = [];
  let at = 0;
  for (const p of k.params) {
    bases.push(at);
    // At least 64 elements: the loop kernels read x[col + 8 j] for j < 4 at any item count.
    const elements = Math.max(len, 64) + 4;
    const bytesOf = ELEMENT_BYTES[p.type] * elements;
    const view = new DataView(memory.buffer, at, bytesOf);
    // About a third of the elements edges, drawn independently per buffer (so x and x2 pair them all ways).
    const edge = (edges: readonly number[], r: number) => edges[Math.floor(r * 3 * edges.length)];
    for (let j = 0; j < elements; j++) {
      const r = rng();
      if (p.type === "f32") view.setFloat32(4 * j, edge(F32_EDGES, r) ?? (rng() - 0.5) * 9, true);
      else if (p.type === "bool") view.setUint8(j, r < 0.5 ? 1 : 0);
      else view.setInt32(4 * j, edge(I32_EDGES, r) ?? Math.floor((rng() - 0.5) * 2 ** 32), true);
    }
    at += (bytesOf + 15) & ~15;
  }
  const grid = Math.ceil(len / k.workgroupSize);
  const bounds = [0, ...cuts.filter((x) => x > 0 && x < grid), grid];
  for (let j = 0; j + 1 < bounds.length; j++)
    (exports.kernel as (...a: number[]) => void)(...bases, ...sizes, grid, bounds[j]!, bounds[j + 1]!);
  return new Uint8Array(memory.buffer, 0, at).slice();
}

/** Byte-equal, except that any f32 NaN equals any other (neither target keeps NaN payloads). */
function sameBits(a: Uint8Array, b: Uint8Array): boolean {
  const fa = new Float32Array(a.buffer, 0, a.length >> 2);
  const fb = new Float32Array(b.buffer, 0, b.length >> 2);
  for (let j = 0; j < fa.length; j++) {
    const ia = new Uint32Array(a.buffer, 4 * j, 1)[0];
    const ib = new Uint32Array(b.buffer, 4 * j, 1)[0];
    if (ia !== ib && !(Number.isNaN(fa[j]) && Number.isNaN(fb[j]))) return false;
  }
  return true;
}

describe("vector loops give the scalar emitter's bits", () => {
  it("on hand-written kernels: every op, edges, tails, odd workgroups, launches split anywhere", () => {
    let runs = 0;
    for (const wg of [1, 3, 64])
      for (const len of [1, 3, 4, 5, 13, 64, 131, 203])
        for (const n of [c(len), { kind: "size", name: "n", type: "i32" } as Expr])
          for (const k of cases(n, wg)) {
            expect(vectorisable(k), k.name).toBe(true);
            const vector = renderVectorKernel(k, { shared: false });
            expect(WebAssembly.validate(vector), k.name).toBe(true);
            const scalar = renderWasmKernel(k, { shared: false });
            const grid = Math.ceil(len / wg);
            const sizes = n.kind === "size" ? [len] : [];
            for (const cuts of [[], [1], [Math.floor(grid / 3), Math.floor(grid / 2) + 1], [2, 3, 5, 7, 11]]) {
              const seed = len * 7 + wg + cuts.length;
              const want = runModule(scalar, k, len, sizes, cuts, seed);
              const got = runModule(vector, k, len, sizes, cuts, seed);
              expect(sameBits(got, want), `${k.name} wg ${wg} len ${len} cuts ${cuts.join(",")}`).toBe(true);
              runs++;
            }
          }
    expect(runs).toBeGreaterThan(700);
  });
});

/** Every output's bytes (NaN-equal), vector loops vs scalar wasm. */
function compareVectorScalar(rc: RandomCase, options: Omit<CompileOptions, "target"> = {}): number {
  const bundles = ["1", "0"].map((flag) => {
    process.env.MOEFORGE_WASM_VECTOR = flag;
    try {
      return compile(rc.program, { target: "wasm", ...options });
    } finally {
      delete process.env.MOEFORGE_WASM_VECTOR;
    }
  });
  const [got, want] = bundles.map((b) => runCompiled(b, rc.program, rc.inputs));
  got!.forEach((t, j) => {
    const a = t._value().data;
    const b = want![j]!._value().data;
    const bytes = (x: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }) =>
      new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
    const same =
      a.constructor === Float32Array
        ? sameBits(bytes(a as Float32Array), bytes(b as Float32Array))
        : String(a) === String(b);
    if (!same) throw new Error(`output ${j} differs (vector vs scalar wasm) on:\n${rc.description}`);
  });
  return bundles[0]!.kernels.filter((k) => vectorisable(k) === true).length;
}

/** Puts NaN, -0, infinities into a case's float inputs (one in 5 elements). */
function withEdges(rc: RandomCase, seed: number): RandomCase {
  const rng = mulberry32(seed);
  for (const t of rc.inputs) {
    const d = t._value().data;
    if (d instanceof Float32Array)
      for (let j = 0; j < d.length; j++) if (rng() < 0.2) d[j] = F32_EDGES[j % F32_EDGES.length]!;
  }
  return rc;
}

/** Float outputs' bits (NaN-equal) and other outputs' values: the wasm target against the JS target. */
function compareWithJs(rc: RandomCase): void {
  const [got, want] = (["wasm", "js"] as const).map((target) =>
    runCompiled(compile(rc.program, { target }), rc.program, rc.inputs).map((t) => t._value().data),
  );
  got!.forEach((a, j) => {
    const b = want![j]!;
    const same =
      a instanceof Float32Array && b instanceof Float32Array
        ? sameBits(new Uint8Array(a.slice().buffer), new Uint8Array(b.slice().buffer))
        : String(a) === String(b);
    if (!same) throw new Error(`output ${j} differs (wasm vs js) on:\n${rc.description}`);
  });
}

describe("random elementwise programs on the wasm target equal the JS target bit for bit", () => {
  it("forward and gradient (no contractions: the SIMD GEMMs sum in f32), NaN / -0 / inf inputs", () => {
    const kinds = ["unary", "binaryNew", "binaryPool", "take", "gather", "move", "reduce", "softmax"] as const;
    fc.assert(
      fc.property(randomProgramArb({ maxSteps: 5, kinds }), fc.nat(), (rc, seed) => {
        compareWithJs(withEdges(rc, seed));
        compareWithJs(gradientCase(rc, seed));
      }),
      { numRuns: 50 },
    );
  });
});

describe("random programs, vector loops vs scalar wasm, bit for bit", () => {
  it("forward and gradient programs (with NaN / -0 / inf inputs), some with 7-item workgroups", () => {
    let vectorised = 0;
    fc.assert(
      fc.property(randomProgramArb({ maxSteps: 5 }), fc.nat(), fc.boolean(), (rc, seed, odd) => {
        const options = odd ? { knobs: { elementwiseWorkgroup: 7 } } : {};
        vectorised += compareVectorScalar(withEdges(rc, seed), options);
        vectorised += compareVectorScalar(gradientCase(rc, seed), options);
      }),
      { numRuns: 60 },
    );
    expect(vectorised).toBeGreaterThan(60);
  });

  it("large programs, launches split across the worker pool, some with 7-item workgroups", () => {
    fc.assert(
      fc.property(randomProgramArb({ large: true, maxSteps: 3 }), fc.boolean(), (rc, odd) => {
        const options = odd ? { knobs: { elementwiseWorkgroup: 7 } } : {};
        compareVectorScalar(rc, options);
        compareVectorScalar(gradientCase(rc), options);
      }),
      { numRuns: 4 },
    );
  });
});

describe("which kernels vectorise", () => {
  it("the benchmark layer's elementwise kernels do; reductions, packs and contractions say why not", () => {
    const bundle = compile(moeforgePrograms(PEER_LAYER).gradient, { target: "wasm" });
    const verdict = new Map(bundle.kernels.map((k) => [k.name, vectorisable(k)]));
    // relu forward (bool mask + select), its backward, the row gather `take`, and the scaled gradients.
    // relu forward (bool mask + select), its backward, the row gather `take`, the scaled gradients, the top-k combines.
    const names = [
      "k2_elementwise",
      "k5_elementwise",
      "k14_elementwise",
      "k21_elementwise",
      "k9_combine",
      "k26_combine",
      "k8_elementwise", // its row index g / 2 of a gathered g: division lane by lane
    ];
    for (const name of names) expect(verdict.get(name), name).toBe(true);
    expect(verdict.get("k0_reduce")).toMatch(/binds f64 values/); // its sums are f64: kept scalar
    expect(verdict.get("k3_pack_panels")).toMatch(/packs weight panels/);
    expect(verdict.get("k3_ragged_matmul")).toMatch(/contraction/);
  });

  it("MOEFORGE_WASM_VECTOR=0 keeps every kernel scalar; other values are rejected", () => {
    const program = moeforgePrograms({ ...PEER_LAYER, T: 8 }).loss;
    const sources = (flag: string) => {
      process.env.MOEFORGE_WASM_VECTOR = flag;
      try {
        return compile(program, { target: "wasm" }).kernels.map((k) => k.source);
      } finally {
        delete process.env.MOEFORGE_WASM_VECTOR;
      }
    };
    const [on, off] = [sources("1"), sources("0")];
    expect(on.filter((x, j) => x !== off[j]).length).toBeGreaterThan(0);
    expect(() => sources("yes")).toThrow(/MOEFORGE_WASM_VECTOR must be 0 or 1/);
  });

  it("declines what it cannot match bit for bit, with the reason", () => {
    const n = c(16);
    const k = (body: Stmt[], params: [string, ScalarType][] = [F, ["y", "f32"]]) =>
      vectorisable(kernel("k", 4, params, body, n));
    expect(k([store("y", i, un("exp", bin("mul", xf(), xf(), "f32"), "f32"))])).toMatch(/exp of an unrounded/);
    expect(k([store("yb", i, { kind: "call", fn: "isNan", args: [xf()], type: "bool" })], [F, ["yb", "bool"]])).toMatch(
      /calls isNan per item/,
    );
    expect(k([store("y", i, bin("add", bin("mul", xf(), xf(), "f32"), xf(), "f32"))])).toMatch(/unrounded f32/);
    expect(k([store("y", i, select(bin("gt", xf(), c(0, "f32"), "bool"), xf(), c(0, "f32"), "f32"))])).toMatch(
      /branches load/,
    );
    expect(k([store("y", bin("mul", i, c(2), "i32"), xf())])).toMatch(/scatter/);
    expect(k([store("y", i, xf()), store("y", i, load("y", i, "f32"))], [F, ["y", "f32"]])).toMatch(/reads buffer y/);
    // item i + 1's first store would land where item i's second did: the lanes would reorder them
    expect(k([store("y", i, xf()), store("y", bin("add", i, c(1), "i32"), xf())])).toMatch(/two different indices/);
    expect(k([{ kind: "for", var: "q", start: c(0), end: c(2), body: [store("y", i, xf())] }])).toMatch(
      /inside a loop/,
    );
    expect(k([{ kind: "for", var: "q", start: c(0), end: i, body: [] }])).toMatch(/bounds depend on the item/);
    expect(k([store("yi", i, cast(bin("add", xf(), xf(), "f32"), "i32"))], [F, ["yi", "i32"]])).toMatch(/unrounded/);
    expect(
      k(
        [store("y", i, load("xd", i, "f64"))],
        [
          ["xd", "f64"],
          ["y", "f32"],
        ],
      ),
    ).toMatch(/f64/);
  });
});
