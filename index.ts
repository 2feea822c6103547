/**
 * moeforge: Mixture-of-Experts models as pure functions over typed tensors.
 * Trace them into a typed program IR, differentiate them (forward and reverse,
 * composable), and run them on the reference interpreter or generated kernels.
 */
export type { DType, FloatDType } from "./dsl/dtype";
export type { Dim, Shape } from "./dsl/shape";
export { ShapeError } from "./dsl/shape";
export { Tensor, type Operand } from "./dsl/tensor";
export { Program, Var, type Aval, type Eqn } from "./dsl/program";
export type { Primitive, PrimParams } from "./dsl/primitives/params";
export { PRIMITIVES } from "./dsl/primitives/registry";
export * as ops from "./dsl/ops";
export {
  add,
  sub,
  mul,
  div,
  neg,
  exp,
  log,
  log1p,
  sqrt,
  rsqrt,
  tanh,
  sigmoid,
  relu,
  gelu,
  silu,
  softplus,
  abs,
  sign,
  sin,
  cos,
  maximum,
  minimum,
  pow,
  rem,
  square,
  reciprocal,
  where,
  clip,
  trunc,
  equal,
  notEqual,
  less,
  lessEqual,
  greater,
  greaterEqual,
  logicalAnd,
  logicalOr,
  logicalNot,
  cast,
  sum,
  mean,
  max,
  min,
  argmax,
  argmin,
  logsumexp,
  softmax,
  logSoftmax,
  cumsum,
  matmul,
  einsum,
  raggedMatmul,
  reshape,
  transpose,
  broadcastTo,
  expandDims,
  squeeze,
  concat,
  stack,
  slice,
  pad,
  gather,
  take,
  scatterAdd,
  oneHot,
  topK,
  argsort,
  sort,
  bincount,
  stopGradient,
  zerosLike,
  onesLike,
  fullLike,
  scalar,
} from "./dsl/ops";
export { tensor, zeros, ones, full, arange, eye, fromTypedArray } from "./dsl/creation";
export * as random from "./dsl/random";
export { tree, flatten as treeFlatten, unflatten as treeUnflatten, PytreeError, type TreeDef } from "./dsl/pytree";
export { trace, spec, jit, Spec, type JitOptions, type JitFunction } from "./dsl/api";
export { grad, valueAndGrad, vjp, jvp, hessianVectorProduct, customVjp, type GradOptions } from "./autodiff/api";
export { jvpProgram } from "./autodiff/jvp";
export { vjpProgram } from "./autodiff/vjp";
export { checkGrads, type CheckGradsOptions } from "./autodiff/check";
export {
  setBackend,
  getBackend,
  defaultBackend,
  registerBackend,
  type Backend,
  type BackendName,
} from "./backends/registry";
export * as moe from "./moe/index";
import "./backends/cpu";
// The webgpu backend registers itself; `await initWebGPU()` once before using it (device creation is async).
export { initWebGPU, releaseWebGPU, type WebGPUInitOptions } from "./backends/webgpu/index";
// The cuda backend registers itself; it runs where an NVIDIA GPU and nvcc are present (see backends/cuda/device.ts).
import "./backends/cuda/backend";
// Code generation: compile a Program to kernels (WGSL, CUDA, JS) with every emitter registered.
export { compile, CompileError, type CompileOptions, type KernelBundle } from "./codegen/index";
