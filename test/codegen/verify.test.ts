/** The kernel-IR verifier: the rules every kernel obeys, checked in one pass. */
import { describe, expect, it } from "vitest";
import "../../codegen/emit/all";
import { compile } from "../../codegen/compile";
import { bin, builtin, c, cast, load, size, v, type Kernel, type Stmt, type Target } from "../../codegen/kernel_ir";
import { TARGETS } from "../../codegen/targets";
import { KernelVerifyError, verifyKernel } from "../../codegen/verify";
import { spec, trace } from "../../dsl/api";
import * as ops from "../../dsl/ops";
import type { Tensor } from "../../dsl/tensor";

const gid = v("gid");
const prologue: Stmt[] = [{ kind: "let", name: "gid", type: "i32", init: cast(builtin("globalLinear"), "i32") }];

function kernel(body: Stmt[], extra: Partial<Kernel> = {}): Kernel {
  return {
    name: "k_test",
    params: [
      { name: "x", type: "f32", access: "read" },
      { name: "y", type: "f32", access: "readWrite" },
    ],
    sizes: ["N"],
    shared: [{ name: "tile", type: "f32", length: 64 }],
    workgroupSize: 64,
    body: [...prologue, ...body],
    ...extra,
  };
}

const storeY = (value = load("x", gid, "f32")): Stmt => ({ kind: "store", buffer: "y", index: gid, value });

function rejection(k: Kernel): string {
  try {
    verifyKernel(k);
  } catch (e) {
    expect(e).toBeInstanceOf(KernelVerifyError);
    return (e as Error).message;
  }
  throw new Error("the verifier accepted a broken kernel");
}

describe("verifyKernel", () => {
  it("accepts a well-formed kernel with a guarded tail", () => {
    const guard: Stmt = { kind: "if", cond: bin("ge", gid, size("N"), "bool"), then: [{ kind: "return" }] };
    expect(() => verifyKernel(kernel([guard, storeY()]))).not.toThrow();
  });

  it("rejects a barrier in divergent control flow, naming the kernel and the statement", () => {
    const divergent: Stmt = {
      kind: "if",
      cond: bin("lt", gid, size("N"), "bool"),
      then: [{ kind: "barrier" }],
    };
    expect(rejection(kernel([divergent]))).toMatch(
      /^kernel "k_test": `barrier`: barrier in control flow that may differ/,
    );
    const perThreadLoop: Stmt = { kind: "for", var: "i", start: c(0), end: gid, body: [{ kind: "barrier" }] };
    expect(rejection(kernel([perThreadLoop]))).toMatch(/`barrier`: barrier in control flow/);
    const uniformLoop: Stmt = { kind: "for", var: "i", start: c(0), end: size("N"), body: [{ kind: "barrier" }] };
    expect(() => verifyKernel(kernel([uniformLoop]))).not.toThrow();
  });

  it("rejects an early return in a kernel with barriers", () => {
    const guard: Stmt = { kind: "if", cond: bin("ge", gid, size("N"), "bool"), then: [{ kind: "return" }] };
    expect(rejection(kernel([guard, { kind: "barrier" }]))).toMatch(/`return`: early return in a kernel with barriers/);
  });

  it("rejects an untyped mix (an f32 added to an i32) and a store of the wrong type", () => {
    const mix = bin("add", load("x", gid, "f32"), gid, "f32");
    expect(rejection(kernel([storeY(mix)]))).toMatch(
      /`store y\[gid\] = \(x\[gid\] \+ gid\)`: .*add of f32 and i32 typed f32; expected operands of one type/,
    );
    expect(rejection(kernel([storeY(gid)]))).toMatch(/stores a i32 into "y" of f32/);
    expect(rejection(kernel([storeY(load("x", load("x", gid, "f32"), "f32"))]))).toMatch(/index x\[gid\] has type f32/);
  });

  it("rejects a variable read out of its scope, or never declared", () => {
    const inner: Stmt = {
      kind: "if",
      cond: bin("lt", gid, size("N"), "bool"),
      then: [{ kind: "let", name: "t", type: "f32", init: load("x", gid, "f32") }],
    };
    expect(rejection(kernel([inner, storeY(v("t", "f32"))]))).toMatch(
      /`store y\[gid\] = t`: reads "t", which is not declared here/,
    );
    expect(rejection(kernel([storeY(v("nowhere", "f32"))]))).toMatch(/reads "nowhere"/);
  });

  it("rejects writes to read-only buffers, undeclared sizes, assignments to immutable lets", () => {
    expect(rejection(kernel([{ kind: "store", buffer: "x", index: gid, value: c(1, "f32") }]))).toMatch(
      /writes "x", which is declared read-only/,
    );
    expect(rejection(kernel([{ kind: "if", cond: bin("ge", gid, size("M"), "bool"), then: [] }]))).toMatch(
      /reads size "M", which is not in the kernel's sizes/,
    );
    expect(rejection(kernel([{ kind: "assign", name: "gid", value: c(0) }]))).toMatch(/not a mutable let/);
  });

  it("runs on every kernel compile() builds, for every target", () => {
    const layer = (x: Tensor, w: Tensor) => ops.softmax(ops.matmul(x, w));
    for (const target of Object.keys(TARGETS) as Target[]) {
      const bundle = compile(trace(layer, spec(["T", 16]), spec([16, 8])), { target });
      for (const k of bundle.kernels) expect(() => verifyKernel(k)).not.toThrow();
    }
  });
});
