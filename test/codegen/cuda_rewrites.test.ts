/**
 * CUDA's f16 fix-up as a kernel-IR rewrite (codegen/emit/cuda_rewrites.ts):
 * after it, f16 appears only at loads, rounding casts and stores, the result
 * verifies, and the renderer rejects f16 arithmetic that skipped it.
 */
import { describe, expect, it } from "vitest";
import { analyzeRanges } from "../../codegen/analysis/ranges";
import { compile } from "../../codegen/compile";
import "../../codegen/emit/cuda";
import { renderExpr } from "../../codegen/emit/cuda_expr";
import { CUDA_REWRITES, f16ComputesInF32 } from "../../codegen/emit/cuda_rewrites";
import { prepareKernel } from "../../codegen/emit/prepare";
import { c, load, un, walkBodyExprs, walkExpr, type Expr, type Kernel, type Stmt } from "../../codegen/kernel_ir";
import { verifyKernel } from "../../codegen/verify";
import { ops, spec, trace, vjpProgram, type Tensor } from "../../core";
import { handKernels } from "./cuda_hand_kernels";

/** Kernels with f16: the hand kernels' and those of f16 programs and their gradients. */
function f16Kernels(): Kernel[] {
  const programs = [
    trace(
      (x: Tensor, w: Tensor) => ops.softmax(ops.matmul(ops.exp(x), w), -1),
      spec([5, 7], "f16"),
      spec([7, 3], "f16"),
    ),
    trace((x: Tensor, i: Tensor) => ops.cumsum(ops.take(ops.sin(x), i, 0), 1), spec([9, 8], "f16"), spec([4], "i32")),
  ];
  const compiled = [...programs, ...programs.map((p) => vjpProgram(p))].flatMap(
    (p) => compile(p, { target: "cuda" }).kernels,
  );
  const uses = (k: Kernel) => {
    let found = [...k.params, ...k.shared].some((x) => x.type === "f16");
    walkBodyExprs(k.body, (e) => (found ||= e.type === "f16"));
    return found;
  };
  return [...handKernels(), ...compiled].filter(uses);
}

/** Every f16 expression and statement of `body` that is not a load, a rounding cast or a store of one. */
function f16Arithmetic(body: readonly Stmt[]): string[] {
  const bad: string[] = [];
  const check = (e: Expr, parent: Expr | "store") => {
    if (e.type !== "f16") return;
    if (e.kind === "load" || e.kind === "sharedLoad") {
      if (parent === "store" || parent.kind !== "cast" || parent.type !== "f32") bad.push(`unwidened ${e.kind}`);
    } else if (e.kind === "cast") {
      if (parent !== "store" && (parent.kind !== "cast" || parent.type !== "f32")) bad.push("unwidened cast to f16");
    } else bad.push(`f16 ${e.kind}`);
  };
  const visit = (root: Expr, rootParent: Expr | "store") => {
    check(root, rootParent);
    walkExpr(root, (p) => {
      if (p.kind === "unary" || p.kind === "cast") check(p.arg, p);
      else if (p.kind === "binary") [p.lhs, p.rhs].forEach((x) => check(x, p));
      else if (p.kind === "select") [p.cond, p.onTrue, p.onFalse].forEach((x) => check(x, p));
      else if (p.kind === "call") p.args.forEach((x) => check(x, p));
    });
  };
  const walk = (ss: readonly Stmt[]): void => {
    for (const s of ss) {
      if (s.kind === "let") {
        if (s.type === "f16") bad.push(`f16 let ${s.name}`);
        visit(s.init, c(0, "f32"));
      } else if (s.kind === "assign") visit(s.value, c(0, "f32"));
      else if (s.kind === "store" || s.kind === "sharedStore" || s.kind === "atomicAdd") {
        visit(s.index, c(0, "i32"));
        visit(s.value, "store");
      } else if (s.kind === "if") {
        visit(s.cond, c(0, "bool"));
        walk(s.then);
        walk(s.else ?? []);
      } else if (s.kind === "for") walk(s.body);
    }
  };
  walk(body);
  return bad;
}

describe("CUDA f16 as a kernel-IR rewrite", () => {
  const kernels = f16Kernels();

  it("finds f16 kernels to check (hand-built and compiled, with f16 arithmetic before the rewrite)", () => {
    expect(kernels.length).toBeGreaterThan(10);
    expect(kernels.some((k) => f16Arithmetic(k.body).length > 0)).toBe(true);
  });

  it("leaves f16 only at widened loads, rounding casts and stores; the result verifies", () => {
    for (const k of kernels) {
      const out = f16ComputesInF32(k);
      expect(f16Arithmetic(out.body), k.name).toEqual([]);
      expect(() => verifyKernel(out), k.name).not.toThrow();
      expect(out.params).toEqual(k.params); // storage types stay
    }
  });

  it("is the CUDA target's rewrite (prepareKernel verifies after it)", () => {
    expect(CUDA_REWRITES).toContain(f16ComputesInF32);
    for (const k of kernels) expect(f16Arithmetic(prepareKernel(k, CUDA_REWRITES).body), k.name).toEqual([]);
  });

  it("the renderer rejects f16 arithmetic that skipped the rewrite", () => {
    const k = kernels[0]!;
    const scope = { kernelName: k.name, storage: new Map(), ranges: analyzeRanges(k), ident: (n: string) => n };
    const x = load(k.params.find((p) => p.type === "f16")?.name ?? "x", c(0), "f16");
    expect(() => renderExpr(un("exp", x, "f16"), scope)).toThrow(/an f16 operation reached the renderer/);
    expect(() => renderExpr(c(1, "f16"), scope)).toThrow(/an f16 constant reached the renderer/);
  });
});
