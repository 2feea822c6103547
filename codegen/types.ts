/**
 * Program dtypes as kernel scalar types, and the compile-time check that a
 * program only uses types its target has.
 */
import type { DType } from "../dsl/dtype";
import type { Program } from "../dsl/program";
import { shapeToString } from "../dsl/shape";
import type { Emitter } from "./emit/emitter";
import type { ScalarType } from "./kernel_ir";

/** The kernel type of a program dtype (bool stays bool: emitters choose its storage). */
export function scalarType(d: DType): ScalarType {
  return d;
}

/** A compile error that names the op (and the variable) that cannot be compiled for a target. */
export class CompileError extends Error {
  override name = "CompileError";
}

/**
 * Throws a CompileError naming the first op (or input) whose dtype the target
 * lacks, e.g. `f64` on WGSL.
 * @example checkTargetTypes(program, getEmitter("wgsl")) // throws for an f64 program
 */
export function checkTargetTypes(program: Program, emitter: Emitter): void {
  const check = (d: DType, what: () => string) => {
    const ok = emitter.supports(scalarType(d));
    if (ok !== true)
      throw new CompileError(`cannot compile for target "${emitter.target}": ${what()} has dtype ${d}: ${ok}`);
  };
  program.inputs.forEach((v, i) => check(v.dtype, () => `input ${i} (${v}: ${v.dtype}${shapeToString(v.shape)})`));
  for (const v of program.consts.keys()) check(v.dtype, () => `constant ${v}`);
  for (const e of program.eqns) {
    check(e.out.dtype, () => `op "${e.prim}" (${e.out} = ${e.prim} ${e.inputs.join(" ")})`);
  }
}
