/**
 * The WGSL emitter's text, without a device: registration with the emitter
 * registry, binding layout, names (reserved words, collisions), literals
 * (non-finite, INT_MIN, all-literal operations kept out of WGSL's
 * const-evaluation), split-buffer accessors, f64/f16 handling; and the launch
 * folding arithmetic (property test over random workgroup counts, 200 cases).
 * Running the emitted code on Dawn is tested in test/webgpu/.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { bin, builtin, c, cast, load, size, un, v, type Kernel, type Stmt } from "../../codegen/kernel_ir";
import { getEmitter } from "../../codegen/emit/emitter";
import { emitWgsl, wgslLayout, WgslEmitError } from "../../codegen/emit/wgsl";
import { wgslIdent } from "../../codegen/emit/wgsl_names";
import { foldGrid } from "../../backends/webgpu/launch";
import { prepareKernel, type KernelRewrite } from "../../codegen/emit/prepare";
import { boolStorageAsU32 } from "../../codegen/emit/wgsl_rewrites";
import { exprToText } from "../../codegen/kernel_text";

const kernel = (body: Stmt[], extra: Partial<Kernel> = {}): Kernel => ({
  name: "k",
  params: [
    { name: "x", type: "f32", access: "read" },
    { name: "y", type: "f32", access: "readWrite" },
  ],
  sizes: ["T"],
  shared: [],
  workgroupSize: 64,
  body,
  ...extra,
});
const storeY = (value: Parameters<typeof bin>[1]): Stmt => ({
  kind: "store",
  buffer: "y",
  index: builtin("globalLinear"),
  value,
});

describe("WGSL emitter", () => {
  it("is registered for the wgsl target and rejects f64 in supports()", () => {
    const e = getEmitter("wgsl");
    expect(e.supports("f32")).toBe(true);
    expect(e.supports("f64")).toMatch(/64-bit/);
    const k = kernel([storeY(load("x", builtin("globalLinear"), "f32"))]);
    expect(e.render(k)).toBe(emitWgsl(k));
  });

  it("declares params, then the size uniform, and documents the layout with the kernel's comment", () => {
    const src = emitWgsl(
      kernel([storeY(load("x", builtin("globalLinear"), "f32"))], { comment: "%3 = exp %1\n%4 = neg %3" }),
    );
    expect(src).toContain('// moeforge kernel "k":\n//   %3 = exp %1\n//   %4 = neg %3\n');
    expect(src).toContain("@group(0) @binding(0) var<storage, read> x: array<f32>;");
    expect(src).toContain("@group(0) @binding(1) var<storage, read_write> y: array<f32>;");
    expect(src).toMatch(/struct MfSizes \{\s+mf_groups: i32,\s+T: i32,\s+\}/);
    expect(src).toContain("@group(0) @binding(2) var<uniform> mf_sizes: MfSizes;");
    expect(src).toContain("@compute @workgroup_size(64)");
    expect(src).toContain("if (mf_group >= mf_sizes.mf_groups) { return; }");
  });

  it("renames reserved words and rejects two names that collide", () => {
    expect(wgslIdent("filter")).toBe("filter_");
    expect(wgslIdent("x.grad")).toBe("x_grad");
    expect(wgslIdent("__a")).toBe("v__a");
    expect(wgslIdent("mf_group")).toBe("mf_group_");
    expect(wgslIdent("3d")).toBe("v3d");
    const clash = kernel([], {
      params: [
        { name: "a.b", type: "f32", access: "read" },
        { name: "a_b", type: "f32", access: "readWrite" },
      ],
    });
    expect(() => emitWgsl(clash)).toThrow(/buffer "a_b" and buffer "a.b" both map to the WGSL name "a_b"/);
  });

  it("renders non-finite floats through a run-time bitcast and INT_MIN without overflow", () => {
    const src = emitWgsl(
      kernel([
        storeY(bin("max", c(-Infinity, "f32"), c(NaN, "f32"), "f32")),
        { kind: "let", name: "m", type: "i32", init: c(-2147483648) },
      ]),
    );
    expect(src).toContain("mf_f32_bits(0xff800000u)");
    expect(src).toContain("mf_f32_bits(0x7fc00000u)");
    expect(src).toContain("i32(-2147483647 - 1)");
    expect(src).toContain("fn mf_f32_bits(bits: u32) -> f32");
  });

  it("keeps operations on literals only out of WGSL const-evaluation (1 << 31 would not compile)", () => {
    const src = emitWgsl(kernel([{ kind: "let", name: "m", type: "i32", init: bin("shl", c(1), c(31), "i32") }]));
    expect(src).toContain("let m: i32 = (mf_rt_i32(1i) << u32(31i));");
    expect(src).toContain("fn mf_rt_i32(x: i32) -> i32");
  });

  it("prints f32 literals as the shortest decimal that rounds back", () => {
    const src = emitWgsl(
      kernel([
        storeY(bin("add", load("x", c(0), "f32"), c(0.1, "f32"), "f32")),
        storeY(bin("mul", load("x", c(0), "f32"), c(-2, "f32"), "f32")),
      ]),
    );
    expect(src).toContain("(x[0i] + 0.1f)");
    expect(src).toContain("(x[0i] * (-2.0f))");
  });

  it("integer division guards zero divisors unless the divisor is a nonzero literal", () => {
    const src = emitWgsl(
      kernel([
        { kind: "let", name: "a", type: "i32", init: bin("div", cast(builtin("localLinear"), "i32"), c(16), "i32") },
        { kind: "let", name: "b", type: "i32", init: bin("div", cast(builtin("localLinear"), "i32"), v("a"), "i32") },
      ]),
    );
    expect(src).toContain("let a: i32 = (mf_local / 16i);");
    expect(src).toContain("let b: i32 = mf_div_i32(mf_local, a);");
  });

  it("routes every access of a split param through chunk accessors", () => {
    const k = kernel([
      { kind: "let", name: "n", type: "i32", init: size("T") },
      storeY(load("x", bin("sub", v("n"), cast(builtin("globalLinear"), "i32"), "i32"), "f32")),
    ]);
    const src = emitWgsl(k, {
      splits: { x: { chunks: 3, chunkElements: 1000 }, y: { chunks: 2, chunkElements: 1000 } },
    });
    expect(src).toContain("@group(0) @binding(2) var<storage, read> x_2: array<f32>;");
    expect(src).toContain("@group(0) @binding(4) var<storage, read_write> y_1: array<f32>;");
    expect(src).toContain("fn mf_load_x(i: i32) -> f32 {");
    expect(src).toContain("fn mf_store_y(i: i32, v: f32) {");
    expect(src).toContain("mf_store_y(mf_global, mf_load_x((n - mf_global)));");
    expect(wgslLayout(k, { splits: { x: { chunks: 3, chunkElements: 1000 } } }).params.map((p) => p.bindings)).toEqual([
      [0, 1, 2],
      [3],
    ]);
    expect(() => emitWgsl(k, { splits: { z: { chunks: 2, chunkElements: 4 } } })).toThrow(/"z", which is not a param/);
  });

  it("tests NaN by bit pattern (WGSL compilers may fold x != x to false), for f32 and f16", () => {
    const nanOf = (x: Parameters<typeof bin>[1]) => ({
      kind: "call" as const,
      fn: "isNan" as const,
      args: [x],
      type: "bool" as const,
    });
    const isNanK = kernel([{ kind: "store", buffer: "b", index: c(0), value: nanOf(load("x", c(0), "f32")) }], {
      params: [
        { name: "x", type: "f32", access: "read" },
        { name: "b", type: "bool", access: "readWrite" },
      ],
    });
    const src = emitWgsl(isNanK);
    expect(src).toContain("((bitcast<u32>(x[0i]) & 0x7fffffffu) > 0x7f800000u)");
    expect(src).not.toContain("!=");
    const halfK = kernel([{ kind: "store", buffer: "b", index: c(0), value: nanOf(load("h", c(0), "f16")) }], {
      params: [
        { name: "h", type: "f16", access: "read" },
        { name: "b", type: "bool", access: "readWrite" },
      ],
    });
    expect(emitWgsl(halfK)).toContain("((bitcast<u32>(f32(h[0i])) & 0x7fffffffu) > 0x7f800000u)");
  });

  it("stores bool buffers as u32 and enables f16 when a kernel computes in it", () => {
    const boolK = kernel(
      [{ kind: "store", buffer: "b", index: c(0), value: bin("lt", load("x", c(0), "f32"), c(0, "f32"), "bool") }],
      {
        params: [
          { name: "x", type: "f32", access: "read" },
          { name: "b", type: "bool", access: "readWrite" },
        ],
      },
    );
    expect(emitWgsl(boolK)).toContain("b[0i] = select(0u, 1u, (x[0i] < 0.0f));");
    const halfK = kernel([storeY(un("exp", load("h", c(0), "f16"), "f16"))], {
      params: [
        { name: "h", type: "f16", access: "read" },
        { name: "y", type: "f16", access: "readWrite" },
      ],
    });
    const src = emitWgsl(halfK);
    expect(src).toMatch(/^enable f16;$/m);
    expect(src).toContain("var<storage, read> h: array<f16>;");
  });

  it("fails at compile time, naming the kernel, for f64 and (through the verifier) unknown buffers, sizes and variables", () => {
    expect(() =>
      emitWgsl(kernel([storeY(un("exp", c(1, "f64"), "f64"))], { name: "k_exp", comment: "%2 = exp %1" })),
    ).toThrow(
      new WgslEmitError(
        'wgsl: kernel "k_exp" (%2 = exp %1): uses f64, which WGSL does not have; ' +
          'run f64 programs on the "cpu" or "interp" backend, or cast to f32 first',
      ),
    );
    expect(() => emitWgsl(kernel([storeY(load("nope", c(0), "f32"))]))).toThrow(
      /kernel "k".*loads from "nope", which is not a param/,
    );
    expect(() => emitWgsl(kernel([storeY({ kind: "size", name: "D", type: "i32" })]))).toThrow(
      /kernel "k".*reads size "D", which is not in the kernel's sizes/,
    );
    expect(() => emitWgsl(kernel([{ kind: "assign", name: "q", value: c(1) }]))).toThrow(
      /assigns to "q", which is not declared/,
    );
    expect(() => emitWgsl(kernel([{ kind: "store", buffer: "x", index: c(0), value: c(1, "f32") }]))).toThrow(
      /kernel "k".*writes "x", which is declared read-only/,
    );
  });
});

describe("launch folding", () => {
  it("covers the count with every dimension within the limit and little surplus (200 random counts)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 * 65535 * 3 }), fc.constantFrom(65535, 1000, 7), (groups, max) => {
        fc.pre(groups <= max ** 3);
        const [x, y, z] = foldGrid(groups, max);
        expect(Math.max(x, y, z)).toBeLessThanOrEqual(max);
        expect(x * y * z).toBeGreaterThanOrEqual(groups);
        if (groups > 0) expect(x * y * z - groups).toBeLessThan(y * z);
        if (groups <= max) expect([x, y, z]).toEqual([groups, 1, 1]);
      }),
      { numRuns: 200 },
    );
    expect(foldGrid(70001, 65535)).toEqual([35001, 2, 1]);
    expect(() => foldGrid(8 ** 3 + 1, 8)).toThrow(/exceed/);
  });
});

describe("WGSL fix-ups as kernel-IR rewrites", () => {
  const halfK = (op: "sin" | "exp") =>
    kernel([storeY(un(op, load("h", c(0), "f16"), "f16"))], {
      params: [
        { name: "h", type: "f16", access: "read" },
        { name: "y", type: "f16", access: "readWrite" },
      ],
    });

  it("stores bool params as u32: loads compare with 0, stores select 1 or 0, and the result verifies", () => {
    const k = kernel(
      [{ kind: "store", buffer: "b", index: c(0), value: bin("ne", load("b", c(1), "bool"), c(1, "bool"), "bool") }],
      {
        params: [{ name: "b", type: "bool", access: "readWrite" }],
      },
    );
    const out = prepareKernel(k, [boolStorageAsU32]);
    expect(out.params).toEqual([{ name: "b", type: "u32", access: "readWrite" }]);
    expect(exprToText((out.body[0] as Extract<Stmt, { kind: "store" }>).value)).toBe(
      "select(((b[1] != 0) != 1), 1, 0)",
    );
    expect(emitWgsl(k)).toContain("b[0i] = select(0u, 1u, ((b[1i] != 0u) != true));");
  });

  it("computes f16 sin/cos in f32 (the prelude's accurate ones) and leaves other f16 math alone", () => {
    expect(emitWgsl(halfK("sin"))).toContain("y[mf_global] = f16(mf_sin(f32(h[0i])));");
    expect(emitWgsl(halfK("exp"))).toContain("y[mf_global] = mf_exp_f16(h[0i]);");
  });

  it("verifies what the rewrites produce (a rewrite that breaks typing is caught, naming the kernel)", () => {
    const broken: KernelRewrite = (k) => ({ ...k, params: k.params.map((p) => ({ ...p, type: "i32" as const })) });
    expect(() => prepareKernel(halfK("exp"), [broken])).toThrow(/kernel "k".*loads a f16 from "h" of i32/);
  });
});
