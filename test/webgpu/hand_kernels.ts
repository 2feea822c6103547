/**
 * Hand-built kernel-IR kernels and one-kernel bundles for the WGSL emitter and
 * WebGPU runtime tests (independent of lowering, so the emitter is tested alone).
 */
import {
  bin,
  builtin,
  c,
  cast,
  load,
  size,
  un,
  v,
  type BufferDecl,
  type Expr,
  type Kernel,
  type KernelBundle,
  type Launch,
  type ScalarType,
  type SizeExpr,
  type Stmt,
} from "../../codegen/kernel_ir";
import { emitWgsl } from "../../codegen/emit/wgsl";

const i = v("i");
/** Params of the f32 x -> y kernels. */
const xToY: Kernel["params"] = [
  { name: "x", type: "f32", access: "read" },
  { name: "y", type: "f32", access: "readWrite" },
];

/** A one-thread-per-element kernel: `body` runs for i = globalLinear < count. */
function perElement(
  name: string,
  params: Kernel["params"],
  count: string,
  body: Stmt[],
  workgroupSize = 64,
  comment?: string,
): Kernel {
  return {
    name,
    comment,
    params,
    sizes: [count],
    shared: [],
    workgroupSize,
    body: [
      { kind: "let", name: "i", type: "i32", init: cast(builtin("globalLinear"), "i32") },
      { kind: "if", cond: bin("lt", i, size(count), "bool"), then: body },
    ],
  };
}

/** y[i] = exp(x[i]) * 2 + i for i < n. */
export const scaleExp = perElement(
  "scale_exp",
  xToY,
  "n",
  [
    {
      kind: "store",
      buffer: "y",
      index: i,
      value: bin("add", bin("mul", un("exp", load("x", i, "f32"), "f32"), c(2, "f32"), "f32"), cast(i, "f32"), "f32"),
    },
  ],
  64,
  "%3 = exp %1; %4 = mul %3 2; %5 = add %4 iota",
);

/** y[row] = sum_j x[row * cols + j]: one workgroup per row, tree reduction in shared memory. */
export const rowSum: Kernel = {
  name: "row_sum",
  comment: "%2 = reduceSum{axes=[1]} %1",
  params: xToY,
  sizes: ["cols"],
  shared: [{ name: "acc", type: "f32", length: 64 }],
  workgroupSize: 64,
  body: [
    { kind: "let", name: "row", type: "i32", init: cast(builtin("groupLinear"), "i32") },
    { kind: "let", name: "lane", type: "i32", init: cast(builtin("localLinear"), "i32") },
    { kind: "let", name: "s", type: "f32", init: c(0, "f32"), mutable: true },
    {
      kind: "for",
      var: "j",
      start: v("lane"),
      end: size("cols"),
      step: c(64),
      body: [
        {
          kind: "assign",
          name: "s",
          value: bin(
            "add",
            v("s", "f32"),
            load("x", bin("add", bin("mul", v("row"), size("cols"), "i32"), v("j"), "i32"), "f32"),
            "f32",
          ),
        },
      ],
    },
    { kind: "sharedStore", array: "acc", index: v("lane"), value: v("s", "f32") },
    { kind: "barrier" },
    ...[32, 16, 8, 4, 2, 1].flatMap((stride): Stmt[] => [
      {
        kind: "if",
        cond: bin("lt", v("lane"), c(stride), "bool"),
        then: [
          {
            kind: "sharedStore",
            array: "acc",
            index: v("lane"),
            value: bin(
              "add",
              { kind: "sharedLoad", array: "acc", index: v("lane"), type: "f32" },
              { kind: "sharedLoad", array: "acc", index: bin("add", v("lane"), c(stride), "i32"), type: "f32" },
              "f32",
            ),
          },
        ],
      },
      { kind: "barrier" },
    ]),
    {
      kind: "if",
      cond: bin("eq", v("lane"), c(0), "bool"),
      then: [
        {
          kind: "store",
          buffer: "y",
          index: v("row"),
          value: { kind: "sharedLoad", array: "acc", index: c(0), type: "f32" },
        },
      ],
    },
  ],
};

/** out[i] = value for i < count (outputs are not zero-initialised). */
export const fill = (type: ScalarType, value = 0, count = "n"): Kernel =>
  perElement(`fill_${type}`, [{ name: "out", type, access: "readWrite" }], count, [
    { kind: "store", buffer: "out", index: i, value: c(value, type) },
  ]);

/** counts[idx[i]] += 1 with integer atomics. */
export const histogram = perElement(
  "histogram",
  [
    { name: "idx", type: "i32", access: "read" },
    { name: "counts", type: "i32", access: "readWrite", atomic: true },
  ],
  "n",
  [{ kind: "atomicAdd", buffer: "counts", index: load("idx", i, "i32"), value: c(1) }],
  64,
  "bincount %1",
);

/** y[i] = x[n - 1 - i]: reads cross chunk boundaries when buffers are split. */
export const reverse = perElement(
  "reverse",
  xToY,
  "n",
  [
    {
      kind: "store",
      buffer: "y",
      index: i,
      value: load("x", bin("sub", bin("sub", size("n"), c(1), "i32"), i, "i32"), "f32"),
    },
  ],
  32,
);

/** out[i] = word (i & 1) of threefry(key, (0, i >> 1)), as the interpreter's randomBits. */
const threefryWord = (fn: "threefry2x32_0" | "threefry2x32_1"): Expr => ({
  kind: "call",
  fn,
  args: [v("k0", "u32"), v("k1", "u32"), c(0, "u32"), v("ctr", "u32")],
  type: "u32",
});
export const randomBits = perElement(
  "random_bits",
  [
    { name: "key", type: "i32", access: "read" },
    { name: "out", type: "i32", access: "readWrite" },
  ],
  "n",
  [
    { kind: "let", name: "k0", type: "u32", init: cast(load("key", c(0), "i32"), "u32") },
    { kind: "let", name: "k1", type: "u32", init: cast(load("key", c(1), "i32"), "u32") },
    { kind: "let", name: "ctr", type: "u32", init: cast(bin("shr", i, c(1), "i32"), "u32") },
    { kind: "let", name: "odd", type: "bool", init: bin("eq", bin("bitAnd", i, c(1), "i32"), c(1), "bool") },
    {
      kind: "let",
      name: "word",
      type: "u32",
      init: {
        kind: "select",
        cond: v("odd", "bool"),
        onTrue: threefryWord("threefry2x32_1"),
        onFalse: threefryWord("threefry2x32_0"),
        type: "u32",
      },
    },
    { kind: "store", buffer: "out", index: i, value: cast(v("word", "u32"), "i32") },
  ],
);

/** out[g] = numGroupsLinear - g, one thread per workgroup: exercises launch folding past 65535 groups. */
export const groupIds: Kernel = {
  name: "group_ids",
  params: [{ name: "out", type: "i32", access: "readWrite" }],
  sizes: [],
  shared: [],
  workgroupSize: 1,
  body: [
    {
      kind: "store",
      buffer: "out",
      index: builtin("groupLinear"),
      value: bin("sub", cast(builtin("numGroupsLinear"), "i32"), cast(builtin("groupLinear"), "i32"), "i32"),
    },
  ],
};

/** A bundle running `kernels` in order on named buffers. */
export function bundleOf(
  kernels: readonly Kernel[],
  buffers: readonly BufferDecl[],
  schedule: readonly Launch[],
  dims: readonly string[] = [],
): KernelBundle {
  return {
    target: "wgsl",
    dims,
    kernels: kernels.map((k) => ({ ...k, source: emitWgsl(k) })),
    buffers,
    schedule,
    inputs: buffers.filter((b) => b.role === "input").map((b) => b.name),
    outputs: buffers.filter((b) => b.role === "output").map((b) => b.name),
  };
}

export const buf = (name: string, type: ScalarType, sizeExpr: SizeExpr, role: BufferDecl["role"]): BufferDecl => ({
  name,
  type,
  size: sizeExpr,
  role,
});
export const ceilDiv = (a: SizeExpr, b: SizeExpr): SizeExpr => ({ op: "ceilDiv", args: [a, b] });
