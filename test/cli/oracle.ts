/**
 * The interpreter's answer for an exported model: the forward outputs and the
 * gradients of the float inputs for given cotangents, from the traced
 * program's own VJP (independent of the forward/backward split the export uses).
 */
import { vjpProgram } from "../../autodiff/vjp";
import { NDArray } from "../../dsl/ndarray";
import type { Program } from "../../dsl/program";
import { Tensor } from "../../dsl/tensor";
import { evalProgram } from "../../dsl/trace";
import { isFloat } from "../../dsl/dtype";

export interface HostTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

const toTensor = (t: HostTensor, dtype: "f32" | "i32") =>
  Tensor._concrete(
    new NDArray(dtype, [...t.shape], dtype === "f32" ? Float32Array.from(t.data) : Int32Array.from(t.data)),
  );

/** Forward outputs and input gradients (float inputs only) on the interpreter, in f32. */
export function interpreterForwardBackward(
  program: Program,
  inputs: readonly HostTensor[],
  cotangents: readonly HostTensor[],
): { outputs: Float32Array[]; gradients: Float32Array[] } {
  const ins = inputs.map((t, i) => toTensor(t, program.inputs[i]!.dtype === "i32" ? "i32" : "f32"));
  const cts = cotangents.map((t) => toTensor(t, "f32"));
  const vjp = vjpProgram(
    program,
    program.inputs.map((v) => isFloat(v.dtype)),
  );
  const outs = evalProgram(vjp, [...ins, ...cts]).map((t) => Float32Array.from(t.dataSync()));
  const n = program.outputs.length;
  return { outputs: outs.slice(0, n), gradients: outs.slice(n) };
}
