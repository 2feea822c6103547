/**
 * Every unary primitive (dsl/primitives/params.ts `UNARY_PRIMS`, on its domain
 * from testing/unary_domains.ts) compiled for the cpu targets equals the
 * interpreter, forward and reverse mode, in f32 and f64 (bools exactly). The
 * list derives from the primitive tuple, so a new unary primitive is covered
 * as soon as it exists.
 */
import { describe, it } from "vitest";
import { UNARY_PRIMS } from "../../dsl/primitives/params";
import { checkUnaryPrim, UNARY_DOMAINS } from "../../testing/unary_domains";
import { onJs, onWasm } from "./runners";

describe.each([
  ["js", onJs],
  ["wasm", onWasm],
] as const)("every unary primitive on the %s target equals the interpreter", (_name, runner) => {
  it.each(UNARY_PRIMS)("%s, forward and gradient, f32 and f64", async (p) => {
    await checkUnaryPrim(runner, p, "f32", 1e-6);
    if (UNARY_DOMAINS[p] !== "bool") await checkUnaryPrim(runner, p, "f64", 1e-13);
  });
});
