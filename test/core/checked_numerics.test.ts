/**
 * Checked numerics (`jit(f, { checkNumerics })`, like JAX's debug_nans) on the
 * interpreter and the cpu backend (WebGPU: test/webgpu/ieee_specials.test.ts):
 * the error names the first equation that created the NaN/Inf, its op and the
 * user's line; values flowing from an input or a constant are reported as such;
 * clean runs return the backend's values unchanged; the option is validated.
 */
import { describe, expect, it } from "vitest";
import { NumericsError, grad, jit, ops, tensor, type Tensor } from "../../index";

/** The line of this file where `marker` appears (so the test does not hard-code line numbers). */
async function lineOf(marker: string): Promise<number> {
  const { readFileSync } = await import("node:fs");
  const lines = readFileSync(new URL(import.meta.url).pathname, "utf8").split("\n");
  return lines.findIndex((l) => l.includes(marker) && !l.includes("lineOf(")) + 1;
}

const model = (x: Tensor) => {
  const y = ops.mul(x, 2);
  const z = ops.log(y); // CULPRIT-LOG
  return ops.sum(ops.exp(z));
};

const overflow = (x: Tensor) => ops.sub(ops.exp(x), ops.exp(x)); // CULPRIT-EXP

const BACKENDS = ["interp", "cpu"] as const;

/** The NumericsError `f` throws. */
function numericsError(f: () => unknown): NumericsError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NumericsError);
    return e as NumericsError;
  }
  throw new Error("expected a NumericsError, got none");
}

describe.each(BACKENDS)("checked numerics on %s", (backend) => {
  it("names the first equation that created a NaN, its op and the user's file:line", async () => {
    const f = jit(model, { backend, checkNumerics: true });
    const x = tensor([1, -2, 3]);
    const e = numericsError(() => f(x));
    expect(e.op).toBe("log");
    const program = f.program(x);
    expect(program.eqns[e.equation!]!.prim).toBe("log");
    expect(e.site).toMatch(new RegExp(`^${new URL(import.meta.url).pathname}:${await lineOf("CULPRIT-LOG")}:\\d+$`));
    expect(e.message).toContain(`equation ${e.equation! + 1} of ${program.eqns.length}, `);
    expect(e.message).toMatch(
      /%\d+ = log\(%\d+: f32\[3\]\), produced NaN \(1 of 3 elements, the first at flat index 1\)/,
    );
    expect(e.message).toContain(`checked_numerics.test.ts:${await lineOf("CULPRIT-LOG")}`);
  });

  it("clean runs return the same values as an unchecked run", () => {
    const x = tensor([1, 2, 3]);
    expect(jit(model, { backend, checkNumerics: true })(x).dataSync()).toEqual(jit(model, { backend })(x).dataSync());
  });

  it('"nan" ignores infinities; "nonfinite" names the equation that overflowed to Inf', async () => {
    const x = tensor([1, 100]);
    // exp(100) overflows f32 to Inf; Inf - Inf is the first NaN.
    const nanOnly = numericsError(() => jit(overflow, { backend, checkNumerics: "nan" })(x));
    expect(nanOnly.op).toBe("sub");
    const strict = numericsError(() => jit(overflow, { backend, checkNumerics: "nonfinite" })(x));
    expect(strict.op).toBe("exp");
    expect(strict.message).toMatch(
      /produced Inf \(1 of 2 elements, the first at flat index 1\); its inputs are finite/,
    );
    expect(strict.site).toContain(`:${await lineOf("CULPRIT-EXP")}:`);
    const inf = jit((v: Tensor) => ops.exp(v), { backend, checkNumerics: "nan" })(x);
    expect(inf.dataSync()[1]).toBe(Infinity);
  });

  it("a NaN input, or an infinite constant (a -Inf mask), is named as the source", () => {
    const fromInput = numericsError(() => jit(model, { backend, checkNumerics: true })(tensor([1, NaN])));
    expect(fromInput.message).toMatch(/output 0 of the \w+ backend contains NaN .*it comes from input 0 \(f32\[2\]\)/);
    const masked = (v: Tensor) => ops.where(ops.greater(v, 0), v, -Infinity);
    const fromConst = numericsError(() => jit(masked, { backend, checkNumerics: "nonfinite" })(tensor([1, -1])));
    expect(fromConst.message).toMatch(/comes from a constant .* holding Inf/);
    expect(jit(masked, { backend, checkNumerics: "nan" })(tensor([1, -1])).dataSync()).toEqual(
      Float32Array.from([1, -Infinity]),
    );
  });

  it("checks gradient programs too (the culprit is in the derivative)", () => {
    // d/dx sqrt(x) at 0 is 1 / (2 * 0) = Inf, times 0 from the mask: NaN.
    const f = (v: Tensor) => ops.sum(ops.mul(ops.sqrt(v), 0));
    const e = numericsError(() => jit(grad(f), { backend, checkNumerics: true })(tensor([0, 1])));
    expect(e.message).toMatch(/produced NaN/);
    expect(e.op).toBeDefined();
  });
});

describe("checked numerics option", () => {
  it("rejects an unknown mode, naming the accepted ones", () => {
    expect(() => jit(model, { checkNumerics: "inf" as never })).toThrow(
      /checkNumerics = "inf"; expected true, false, "nan" or "nonfinite"/,
    );
  });
});
