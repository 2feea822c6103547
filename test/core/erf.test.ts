/**
 * The erf primitive's values (the interpreter's `erfScalar`, whose source the
 * cpu targets inline) against libm's erf (Python's math.erf, correctly rounded
 * to within an ulp), its symmetry and specials, and exact GELU built on it.
 */
import { describe, expect, it } from "vitest";
import { tensor } from "../../dsl/creation";
import * as ops from "../../dsl/ops";
import { erfScalar } from "../../dsl/primitives/elementwise";

// x, math.erf(x): both branches (series below 2, continued fraction above) and the switch points.
const LIBM: readonly [number, number][] = [
  [0.1, 0.1124629160182849],
  [0.5, 0.5204998778130465],
  [1, 0.8427007929497149],
  [1.5, 0.9661051464753108],
  [1.9, 0.9927904292352575],
  [2, 0.9953222650189527],
  [2.5, 0.999593047982555],
  [3, 0.9999779095030014],
  [4, 0.9999999845827421],
  [5.9, 0.9999999999999999],
  [6, 1],
];

describe("erf", () => {
  it("matches libm's erf to 2e-15 on both sides of the series/continued-fraction switch", () => {
    for (const [x, want] of LIBM) {
      expect(Math.abs(erfScalar(x) - want), `erf(${x})`).toBeLessThan(2e-15);
      expect(erfScalar(-x), `erf(-${x})`).toBe(-erfScalar(x));
    }
  });

  it("keeps the sign of zero, saturates at the infinities and passes NaN", () => {
    expect(Object.is(erfScalar(-0), -0)).toBe(true);
    expect(erfScalar(Infinity)).toBe(1);
    expect(erfScalar(-Infinity)).toBe(-1);
    expect(erfScalar(NaN)).toBeNaN();
  });

  it("exact GELU is x * Phi(x); the default stays the tanh approximation", () => {
    const xs = [-3, -1, -0.25, 0, 0.5, 2];
    const x = tensor(xs, [xs.length], "f64");
    const exact = ops.gelu(x, { approximate: false }).dataSync();
    xs.forEach((v, i) => expect(exact[i]).toBeCloseTo((v * (1 + erfScalar(v / Math.SQRT2))) / 2, 15));
    const tanhApprox = ops.gelu(x).dataSync();
    const want = xs.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    xs.forEach((_, i) => expect(tanhApprox[i]).toBeCloseTo(want[i]!, 14));
  });
});
