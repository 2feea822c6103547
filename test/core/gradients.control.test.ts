/**
 * Gradient properties that are not finite-difference checks:
 * - stopGradient: identity in value, zero derivative in both modes (finite
 *   differences would see through it, by design);
 * - customVjpCall: the user's rule is what reverse mode uses (even when it
 *   differs from the true derivative), and forward mode through it fails clearly.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { customVjp, exp, grad, jvp, mul, stopGradient, sum, tanh, type Tensor } from "../../index";
import { expectAllClose, randomLike, rng, shapeArb, tensorArb, thrown, values } from "./helpers";

const RUNS = 30;

describe("stopGradient", () => {
  it(`is the identity in value and has zero gradient and zero tangent (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        shapeArb(0, 3).chain((s) => tensorArb(s)),
        fc.nat(),
        (x, seed) => {
          const rand = rng(seed);
          const u = randomLike(x, rand);
          expect(Array.from(values(stopGradient(x)))).toEqual(Array.from(values(x)));
          // d/dx <u, stop(exp(x))> = 0
          const g = grad((t: Tensor) => sum(mul(stopGradient(exp(t)), u)))(x) as Tensor;
          expect(values(g).every((v) => v === 0)).toBe(true);
          const [, tOut] = jvp((t: Tensor) => stopGradient(tanh(t)), [x], [randomLike(x, rand)]);
          expect(values(tOut as Tensor).every((v) => v === 0)).toBe(true);
          // d/dx <u, x * stop(x)> = u * x: the stopped factor is a constant.
          const g2 = grad((t: Tensor) => sum(mul(mul(t, stopGradient(t)), u)))(x) as Tensor;
          expectAllClose(values(g2), values(mul(u, x)), 1e-14, "grad of x * stop(x)");
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("customVjpCall", () => {
  // Value from fn (x^2), gradient from the user's (deliberately different) rule: 3 * ct.
  const squareWithRule = customVjp(
    (x: Tensor) => mul(x, x),
    (x: Tensor) => [mul(x, x), null],
    (_res: unknown, ct: Tensor) => [mul(ct, 3)],
  );

  it(`reverse mode uses the user's rule, not the function's derivative (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        shapeArb(0, 3).chain((s) => tensorArb(s)),
        (x) => {
          expectAllClose(values(squareWithRule(x)), values(mul(x, x)), 0, "value of the custom function");
          const g = grad((t: Tensor) => sum(squareWithRule(t)))(x) as Tensor;
          expect(Array.from(values(g))).toEqual(new Array(values(x).length).fill(3));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("forward mode through it fails with a message naming the function and what to do", () => {
    const x = fc.sample(tensorArb([3]), { numRuns: 1, seed: 3 })[0]!;
    const named = customVjp(
      function clippedSquare(t: Tensor) {
        return mul(t, t);
      },
      (t: Tensor) => [mul(t, t), null],
      (_r: unknown, ct: Tensor) => [ct],
    );
    const e = thrown(() => jvp((t: Tensor) => named(t), [x], [randomLike(x, rng(1))]));
    expect(e.message).toContain('customVjp function "clippedSquare"');
    expect(e.message).toContain("reverse-mode rule only");
    expect(e.message).toContain("forward mode (jvp)");
  });
});
