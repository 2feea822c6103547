/**
 * Hand-built CUDA KernelBundles over the hand-built kernels: a matmul feeding a
 * row reduction through a temp buffer, a const buffer, bool/f16/i32 buffers,
 * an in-place launch (aliased params) and a bundle with no dims.
 */
import type { Kernel, KernelBundle } from "../../codegen/kernel_ir";
import {
  bincountAtomic,
  controlFlow,
  gatherRows,
  randomUniform,
  rowSum,
  tiledMatmul,
  unaryKernels,
} from "./cuda_hand_kernels";

const withSource = (k: Kernel) => ({ ...k, source: "" });

/**
 * xw = x @ w, rows = rowSum(xw), counts = bincount(ids). Kernel sizes are bundle
 * dims by name, so the caller binds R = M and C = N (the row kernel's names).
 */
export const matmulReduceBundle: KernelBundle = {
  target: "cuda",
  dims: ["M", "K", "N", "R", "C", "E"],
  kernels: [tiledMatmul, rowSum, bincountAtomic].map(withSource),
  buffers: [
    { name: "x", type: "f32", size: { op: "mul", args: ["M", "K"] }, role: "input" },
    { name: "w", type: "f32", size: { op: "mul", args: ["K", "N"] }, role: "input" },
    { name: "ids", type: "i32", size: "N", role: "input" },
    { name: "xw", type: "f32", size: { op: "mul", args: ["M", "N"] }, role: "output" },
    { name: "rows", type: "f32", size: "R", role: "output" },
    { name: "counts", type: "i32", size: "E", role: "output" },
  ],
  schedule: [
    {
      kernel: "tiled_matmul",
      grid: {
        op: "mul",
        args: [
          { op: "ceilDiv", args: ["M", 16] },
          { op: "ceilDiv", args: ["N", 16] },
        ],
      },
      bindings: { A: "x", B: "w", C: "xw" },
    },
    { kernel: "row_sum", grid: "R", bindings: { x: "xw", out: "rows" } },
    {
      kernel: "bincount_atomic",
      grid: { op: "ceilDiv", args: ["N", 256] },
      bindings: { ids: "ids", counts: "counts" },
    },
  ],
  inputs: ["x", "w", "ids"],
  outputs: ["xw", "rows", "counts"],
};

/** Random draws from a const key, a gather of f16 rows, a bool kernel, and an in-place exp. */
export const mixedBundle: KernelBundle = ((): KernelBundle => {
  const exp = unaryKernels().find((k) => k.name === "unary_exp_f32")!;
  return {
    target: "cuda",
    dims: ["N", "T", "D"],
    kernels: [randomUniform, gatherRows, controlFlow, exp].map(withSource),
    buffers: [
      { name: "key", type: "i32", size: 2, role: "const", init: [0, 42] },
      { name: "u", type: "f32", size: "N", role: "output" },
      { name: "bits", type: "i32", size: "N", role: "temp" },
      { name: "table", type: "f16", size: { op: "mul", args: ["T", "D"] }, role: "input" },
      { name: "idx", type: "i32", size: "T", role: "input" },
      { name: "rows", type: "f16", size: { op: "mul", args: ["T", "D"] }, role: "output" },
      { name: "mask", type: "bool", size: "N", role: "input" },
      { name: "vals", type: "f32", size: "N", role: "output" },
      { name: "flags", type: "bool", size: "N", role: "output" },
    ],
    schedule: [
      {
        kernel: "random_uniform",
        grid: { op: "ceilDiv", args: ["N", 256] },
        bindings: { key: "key", u: "u", bits: "bits" },
      },
      {
        kernel: "gather_rows",
        grid: { op: "min", args: [{ op: "ceilDiv", args: [{ op: "mul", args: ["T", "D"] }, 256] }, 1024] },
        bindings: { table: "table", idx: "idx", rows: "rows" },
      },
      {
        kernel: "control_flow",
        grid: { op: "ceilDiv", args: ["N", 32] },
        bindings: { mask: "mask", float: "u", out: "vals", flags: "flags" },
      },
      // In place: x and y are the same buffer, so unary_exp_f32 must not be __restrict__.
      { kernel: "unary_exp_f32", grid: { op: "ceilDiv", args: ["N", 128] }, bindings: { x: "vals", y: "vals" } },
    ],
    inputs: ["table", "idx", "mask"],
    outputs: ["u", "rows", "vals", "flags"],
  };
})();

/** No dims, no inputs: a const buffer copied by a one-block kernel. */
export const constantBundle: KernelBundle = {
  target: "cuda",
  dims: [],
  kernels: [
    withSource({
      name: "copy_const",
      params: [
        { name: "src", type: "f32", access: "read" },
        { name: "dst", type: "f32", access: "readWrite" },
      ],
      sizes: [],
      shared: [],
      workgroupSize: 4,
      body: [
        {
          kind: "store",
          buffer: "dst",
          index: { kind: "builtin", name: "localLinear", type: "u32" },
          value: {
            kind: "load",
            buffer: "src",
            index: { kind: "builtin", name: "localLinear", type: "u32" },
            type: "f32",
          },
        },
      ],
    }),
  ],
  buffers: [
    { name: "c", type: "f32", size: 4, role: "const", init: [1.5, -0, NaN, -Infinity] },
    { name: "out", type: "f32", size: 4, role: "output" },
  ],
  schedule: [{ kernel: "copy_const", grid: 1, bindings: { src: "c", dst: "out" } }],
  inputs: [],
  outputs: ["out"],
};
