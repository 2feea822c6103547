/**
 * The `cpu` backend: compiles a Program for the wasm target where WebAssembly
 * SIMD128 validates, else the JS target (`cpuTarget()` says which and why;
 * cached per program and target), runs the kernels, returns host tensors. The fast embedded default when no GPU is present; the interpreter
 * stays the oracle it is tested against.
 */
import { compile } from "../../codegen/compile";
import type { KernelBundle } from "../../codegen/kernel_ir";
import type { Program } from "../../dsl/program";
import { resolveShape, shapeToString } from "../../dsl/shape";
import { Tensor } from "../../dsl/tensor";
import { bindDims } from "../../dsl/trace";
import { NDArray } from "../../dsl/ndarray";
import type { Backend, RunOptions } from "../registry";
import { runBundle } from "./runtime";
import { cpuTarget, type CpuTarget } from "./target";

const bundles = new WeakMap<Program, Map<string, KernelBundle>>();

/**
 * The bundle of `program` for the cpu backend's target (`cpuTarget()`, or `target`),
 * compiled once per program, target and checks setting; named dims stay symbolic.
 */
export function cpuBundle(program: Program, target: CpuTarget = cpuTarget().target, checks = true): KernelBundle {
  let byKey = bundles.get(program);
  if (!byKey) bundles.set(program, (byKey = new Map()));
  const key = checks ? target : `${target}-unchecked`;
  let b = byKey.get(key);
  if (!b) byKey.set(key, (b = compile(program, { target, checks })));
  return b;
}

export const cpuBackend: Backend = {
  name: "cpu",
  available: () => true,
  run(program: Program, inputs: readonly Tensor[], options: RunOptions = {}): Tensor[] {
    const dims = bindDims(program, inputs, "cpu backend");
    const bundle = cpuBundle(program, cpuTarget().target, options.checks ?? true);
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
