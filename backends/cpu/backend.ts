/**
 * The `cpu` backend: compiles a Program for the JS target (cached per program
 * and input signature), runs the kernels over typed arrays, returns host
 * tensors. The fast embedded default when no GPU is present; the interpreter
 * stays the oracle it is tested against.
 */
import { compile } from "../../codegen/compile";
import type { KernelBundle } from "../../codegen/kernel_ir";
import type { Program } from "../../dsl/program";
import { resolveShape, shapeToString } from "../../dsl/shape";
import { Tensor } from "../../dsl/tensor";
import { bindDims } from "../../dsl/trace";
import { NDArray } from "../../dsl/ndarray";
import type { Backend } from "../registry";
import { runBundle } from "./runtime";

const bundles = new WeakMap<Program, Map<string, KernelBundle>>();

/** The JS-target bundle of `program` (compiled once per program; named dims stay symbolic). */
export function cpuBundle(program: Program): KernelBundle {
  let byKey = bundles.get(program);
  if (!byKey) bundles.set(program, (byKey = new Map()));
  let b = byKey.get("js");
  if (!b) byKey.set("js", (b = compile(program, { target: "js" })));
  return b;
}

export const cpuBackend: Backend = {
  name: "cpu",
  available: () => true,
  run(program: Program, inputs: readonly Tensor[]): Tensor[] {
    const dims = bindDims(program, inputs, "cpu backend");
    const bundle = cpuBundle(program);
    const arrays = inputs.map((t, i) => {
      if (t.isDevice)
        throw new Error(
          `cpu backend: input ${i} (${t.dtype}${shapeToString(t.shape)}) lives on a device; read it to the host first (await t.data())`,
        );
      return t._value().data;
    });
    const outs = runBundle(bundle, arrays, dims);
    return program.outputs.map((v, i) => Tensor._concrete(new NDArray(v.dtype, resolveShape(v.shape, dims), outs[i]!)));
  },
};
