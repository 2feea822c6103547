/**
 * The core of moeforge: tensors, ops, tracing and autodiff (dsl/ + autodiff/),
 * with no backend, code generator or MoE library. Modules inside the package
 * (moe/, experiments) import this barrel, never the package entry (index.ts),
 * so that the layers only point one way: core <- backends/codegen <- moe <- index.
 */
export type { DType, FloatDType } from "./dsl/dtype";
export type { Dim, DimExpr, Shape } from "./dsl/shape";
export * as dims from "./dsl/dims_api";
export { ShapeError } from "./dsl/shape";
export { Tensor, type Operand } from "./dsl/tensor";
export { Program, Var, type Aval, type Eqn } from "./dsl/program";
export type { Primitive, PrimParams } from "./dsl/primitives/params";
// Loading the registry also installs the table `bind` applies (dsl/trace.ts cannot import it: no cycle).
export { PRIMITIVES } from "./dsl/primitives/registry";
export * as ops from "./dsl/ops";
// Every op, top-level (a new op needs no line here). `full` is the creation one below:
// an explicit export wins over a star export of the same name.
export * from "./dsl/ops";
export { tensor, zeros, ones, full, arange, eye, fromTypedArray } from "./dsl/creation";
export * as random from "./dsl/random";
export { tree, flatten as treeFlatten, unflatten as treeUnflatten, PytreeError, type TreeDef } from "./dsl/pytree";
export { trace, spec, Spec } from "./dsl/api";
export { NumericsError, type CheckNumericsMode } from "./dsl/checked_numerics";
export { grad, valueAndGrad, vjp, jvp, hessianVectorProduct, customVjp, type GradOptions } from "./autodiff/api";
export { jvpProgram } from "./autodiff/jvp";
export { vjpProgram } from "./autodiff/vjp";
export { checkGrads, type CheckGradsOptions } from "./autodiff/check";
