/**
 * The fused GEMM epilogue's inline exp and sigmoid (codegen/emit/wasm/inline_exp.ts)
 * against Math.exp and the JS target's sigmoid, on random inputs over the whole
 * f64 range of interest and on the edges (overflow, underflow, subnormals, NaN, ±0, ±inf).
 */
import { describe, expect, it } from "vitest";
import { defineInlineMath, LN2_HI, LN2_LO } from "../../codegen/emit/wasm/inline_exp";
import { ModuleBuilder } from "../../codegen/emit/wasm/module";

function inlineMath(): { exp: (x: number) => number; sigmoid: (x: number) => number } {
  const m = new ModuleBuilder();
  const { exp, sigmoid } = defineInlineMath(m);
  m.export("exp", exp);
  m.export("sigmoid", sigmoid);
  const bytes = m.encode();
  expect(WebAssembly.validate(bytes)).toBe(true);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  return inst.exports as unknown as { exp: (x: number) => number; sigmoid: (x: number) => number };
}

/** Distance in f32 ulps between two f32 values (same sign, finite), via their bit patterns. */
function f32Ulps(a: number, b: number): number {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat32(0, a);
  v.setFloat32(4, b);
  return Math.abs(v.getInt32(0) - v.getInt32(4));
}

/** A seeded uniform generator (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const jsSigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

describe("wasm inline exp", () => {
  const { exp, sigmoid } = inlineMath();

  it("splits ln 2 so n * LN2_HI is exact", () => {
    expect(LN2_HI + LN2_LO).toBe(Math.LN2);
    expect((1076 * LN2_HI) % 2 ** -32).toBe(0);
  });

  it("matches Math.exp to 1e-15 relative, and within 1 f32 ulp once rounded, on random inputs", () => {
    const rand = random(16);
    let worst = 0;
    let worstUlps = 0;
    for (let i = 0; i < 200_000; i++) {
      // Half in the epilogue's usual range, half over the whole range of normal results.
      const x = i % 2 ? (rand() - 0.5) * 40 : (rand() - 0.5) * 2 * 708;
      const got = exp(x);
      const want = Math.exp(x);
      worst = Math.max(worst, Math.abs(got - want) / want);
      if (Math.abs(x) < 87) worstUlps = Math.max(worstUlps, f32Ulps(Math.fround(got), Math.fround(want)));
    }
    expect(worst).toBeLessThan(1e-15);
    expect(worstUlps).toBeLessThanOrEqual(1);
  });

  it("handles the edges: overflow to inf, underflow to 0, subnormals, NaN, ±0, ±inf", () => {
    expect(exp(Number.NaN)).toBeNaN();
    expect(exp(Infinity)).toBe(Infinity);
    expect(exp(-Infinity)).toBe(0);
    expect(exp(0)).toBe(1);
    expect(exp(-0)).toBe(1);
    expect(Math.abs(exp(709.7) / Math.exp(709.7) - 1)).toBeLessThan(1e-15);
    expect(exp(709.8)).toBe(Infinity);
    expect(exp(1000)).toBe(Infinity);
    expect(exp(-745.2)).toBe(0);
    expect(exp(-1000)).toBe(0);
    // Subnormal results: one rounding at the end, so within one subnormal step of Math.exp.
    for (const x of [-710, -720, -730, -740, -744]) expect(Math.abs(exp(x) - Math.exp(x))).toBeLessThanOrEqual(5e-324);
    // The f32 range's ends: overflow past ~88.72, f32 subnormals down to ~-103.9.
    for (const x of [88.7, 88.8, -87.3, -95, -103]) expect(Math.fround(exp(x))).toBe(Math.fround(Math.exp(x)));
  });

  it("sigmoid matches the JS target's formula", () => {
    const rand = random(17);
    for (let i = 0; i < 50_000; i++) {
      const x = (rand() - 0.5) * 80;
      const got = sigmoid(x);
      const want = jsSigmoid(x);
      expect(Math.abs(got - want), `sigmoid(${x})`).toBeLessThanOrEqual(1e-15 * want);
    }
    expect(sigmoid(Number.NaN)).toBeNaN();
    expect(sigmoid(Infinity)).toBe(1);
    expect(sigmoid(-Infinity)).toBe(0);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(800)).toBe(1);
    expect(sigmoid(0)).toBe(0.5);
  });
});
