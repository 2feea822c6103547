/**
 * Hand-built kernel-IR kernels that exercise every construct of the CUDA
 * emitter: each unary/binary op on each dtype it accepts, casts, shared-memory
 * tree reduction, a tiled matmul, integer atomics, Threefry random bits, f16
 * storage, gathers with data-dependent indices and grid-stride loops.
 */
import {
  bin,
  builtin,
  c,
  cast,
  load,
  select,
  size,
  un,
  v,
  type BinaryOp,
  type Kernel,
  type KernelParam,
  type ScalarType,
  type Stmt,
  type UnaryOp,
} from "../../codegen/kernel_ir";
import { OPERAND_TYPES, UNARY_OP_NAMES, UNARY_OPS } from "../../codegen/kernel_ops";
import { BINARY_OP_NAMES, BINARY_OPS, binaryOperandTypes } from "../../codegen/kernel_ops_binary";

const gid = builtin("globalLinear");
const lid = builtin("localLinear");
const group = builtin("groupLinear");

const input = (name: string, type: ScalarType): KernelParam => ({ name, type, access: "read" });
const output = (name: string, type: ScalarType, atomic = false): KernelParam => ({
  name,
  type,
  access: "readWrite",
  atomic,
});

/** `if (i < N) { body }` with `i = globalLinear` as an i32 let. */
function guarded(body: Stmt[], n = "N"): Stmt[] {
  return [
    { kind: "let", name: "i", type: "i32", init: cast(gid, "i32") },
    { kind: "if", cond: bin("lt", v("i"), size(n), "bool"), then: body },
  ];
}

/** CUDA has no f64 and, by design, no integer pow (its emitter rejects it: cuda_emit.test.ts). */
const onCuda = (op: string, types: readonly ScalarType[]) =>
  types.filter((t) => t !== "f64" && !(op === "pow" && (t === "i32" || t === "u32")));

/** Each unary op on every operand type its typing rule accepts (kernel_ops.ts). */
export const UNARY_TYPES = Object.fromEntries(
  UNARY_OP_NAMES.map((op) => [op, onCuda(op, OPERAND_TYPES[UNARY_OPS[op].operands])]),
) as Record<UnaryOp, ScalarType[]>;
/** Each binary op on every operand type its typing rule accepts. */
export const BINARY_TYPES = Object.fromEntries(
  BINARY_OP_NAMES.map((op) => [op, onCuda(op, binaryOperandTypes(op))]),
) as Record<BinaryOp, ScalarType[]>;
const givesBool = (op: BinaryOp) => BINARY_OPS[op].kind === "compare" || BINARY_OPS[op].kind === "logical";

/** One kernel per (unary op, dtype): y[i] = op(x[i]). */
export function unaryKernels(): Kernel[] {
  return Object.entries(UNARY_TYPES).flatMap(([op, types]) =>
    types.map((t): Kernel => ({
      name: `unary_${op}_${t}`,
      params: [input("x", t), output("y", t)],
      sizes: ["N"],
      shared: [],
      workgroupSize: 128,
      body: guarded([{ kind: "store", buffer: "y", index: v("i"), value: un(op as UnaryOp, load("x", v("i"), t), t) }]),
      comment: `y = ${op}(x)`,
    })),
  );
}

/** One kernel per (binary op, dtype): z[i] = op(x[i], y[i]) (comparisons write bool). */
export function binaryKernels(): Kernel[] {
  return Object.entries(BINARY_TYPES).flatMap(([op, types]) =>
    types.map((t): Kernel => {
      const out = givesBool(op as BinaryOp) ? "bool" : t;
      return {
        name: `binary_${op}_${t}`,
        params: [input("x", t), input("y", t), output("z", out)],
        sizes: ["N"],
        shared: [],
        workgroupSize: 256,
        body: guarded([
          {
            kind: "store",
            buffer: "z",
            index: v("i"),
            value: bin(op as BinaryOp, load("x", v("i"), t), load("y", v("i"), t), out),
          },
        ]),
      };
    }),
  );
}

/** One kernel per (from, to) cast pair of the kernel dtypes. */
export function castKernels(): Kernel[] {
  const types: ScalarType[] = ["f32", "f16", "i32", "u32", "bool"];
  return types.flatMap((from) =>
    types.map((to): Kernel => ({
      name: `cast_${from}_to_${to}`,
      params: [input("x", from), output("y", to)],
      sizes: ["N"],
      shared: [],
      workgroupSize: 64,
      body: guarded([{ kind: "store", buffer: "y", index: v("i"), value: cast(load("x", v("i"), from), to) }]),
    })),
  );
}

/** Row sums of x[R, C]: one workgroup per row, strided partial sums, then a shared-memory tree. */
export const rowSum: Kernel = {
  name: "row_sum",
  params: [input("x", "f32"), output("out", "f32")],
  sizes: ["R", "C"],
  shared: [{ name: "partial", type: "f32", length: 256 }],
  workgroupSize: 256,
  comment: "out = reduceSum(x, axis 1)",
  body: [
    { kind: "let", name: "row", type: "i32", init: cast(group, "i32") },
    { kind: "let", name: "acc", type: "f32", init: c(0, "f32"), mutable: true },
    {
      kind: "for",
      var: "col",
      start: cast(lid, "i32"),
      end: size("C"),
      step: c(256),
      body: [
        {
          kind: "assign",
          name: "acc",
          value: bin(
            "add",
            v("acc", "f32"),
            load("x", bin("add", bin("mul", v("row"), size("C"), "i32"), v("col"), "i32"), "f32"),
            "f32",
          ),
        },
      ],
    },
    { kind: "sharedStore", array: "partial", index: lid, value: v("acc", "f32") },
    { kind: "barrier" },
    ...[128, 64, 32, 16, 8, 4, 2, 1].flatMap((half): Stmt[] => [
      {
        kind: "if",
        cond: bin("lt", cast(lid, "i32"), c(half), "bool"),
        then: [
          {
            kind: "sharedStore",
            array: "partial",
            index: lid,
            value: bin(
              "add",
              { kind: "sharedLoad", array: "partial", index: lid, type: "f32" },
              {
                kind: "sharedLoad",
                array: "partial",
                index: bin("add", cast(lid, "i32"), c(half), "i32"),
                type: "f32",
              },
              "f32",
            ),
          },
        ],
      },
      { kind: "barrier" },
    ]),
    {
      kind: "if",
      cond: bin("eq", cast(lid, "i32"), c(0), "bool"),
      then: [
        {
          kind: "store",
          buffer: "out",
          index: v("row"),
          value: { kind: "sharedLoad", array: "partial", index: c(0), type: "f32" },
        },
      ],
    },
  ],
};

/** C[M, N] = A[M, K] @ B[K, N] with 16x16 shared tiles; one workgroup per output tile. */
export const tiledMatmul: Kernel = (() => {
  const T = 16;
  const tileAt = (name: string, r: ReturnType<typeof v>, col: ReturnType<typeof v>) => ({
    kind: "sharedLoad" as const,
    array: name,
    index: bin("add", bin("mul", r, c(T), "i32"), col, "i32"),
    type: "f32" as const,
  });
  return {
    name: "tiled_matmul",
    params: [input("A", "f32"), input("B", "f32"), output("C", "f32")],
    sizes: ["M", "K", "N"],
    shared: [
      { name: "As", type: "f32", length: T * T },
      { name: "Bs", type: "f32", length: T * T },
    ],
    workgroupSize: T * T,
    comment: "C = matmul(A, B)",
    body: [
      {
        kind: "let",
        name: "tilesN",
        type: "i32",
        init: bin("div", bin("add", size("N"), c(T - 1), "i32"), c(T), "i32"),
      },
      { kind: "let", name: "tr", type: "i32", init: bin("div", cast(group, "i32"), v("tilesN"), "i32") },
      { kind: "let", name: "tc", type: "i32", init: bin("rem", cast(group, "i32"), v("tilesN"), "i32") },
      { kind: "let", name: "ly", type: "i32", init: bin("div", cast(lid, "i32"), c(T), "i32") },
      { kind: "let", name: "lx", type: "i32", init: bin("rem", cast(lid, "i32"), c(T), "i32") },
      { kind: "let", name: "row", type: "i32", init: bin("add", bin("mul", v("tr"), c(T), "i32"), v("ly"), "i32") },
      { kind: "let", name: "col", type: "i32", init: bin("add", bin("mul", v("tc"), c(T), "i32"), v("lx"), "i32") },
      { kind: "let", name: "s", type: "i32", init: cast(lid, "i32") },
      { kind: "let", name: "acc", type: "f32", init: c(0, "f32"), mutable: true },
      {
        kind: "for",
        var: "k0",
        start: c(0),
        end: size("K"),
        step: c(T),
        body: [
          { kind: "let", name: "ak", type: "i32", init: bin("add", v("k0"), v("lx"), "i32") },
          { kind: "let", name: "bk", type: "i32", init: bin("add", v("k0"), v("ly"), "i32") },
          {
            kind: "sharedStore",
            array: "As",
            index: v("s"),
            value: select(
              bin("and", bin("lt", v("row"), size("M"), "bool"), bin("lt", v("ak"), size("K"), "bool"), "bool"),
              load("A", bin("add", bin("mul", v("row"), size("K"), "i32"), v("ak"), "i32"), "f32"),
              c(0, "f32"),
              "f32",
            ),
          },
          {
            kind: "sharedStore",
            array: "Bs",
            index: v("s"),
            value: select(
              bin("and", bin("lt", v("bk"), size("K"), "bool"), bin("lt", v("col"), size("N"), "bool"), "bool"),
              load("B", bin("add", bin("mul", v("bk"), size("N"), "i32"), v("col"), "i32"), "f32"),
              c(0, "f32"),
              "f32",
            ),
          },
          { kind: "barrier" },
          {
            kind: "for",
            var: "kk",
            start: c(0),
            end: c(T),
            body: [
              {
                kind: "assign",
                name: "acc",
                value: bin(
                  "add",
                  v("acc", "f32"),
                  bin("mul", tileAt("As", v("ly"), v("kk")), tileAt("Bs", v("kk"), v("lx")), "f32"),
                  "f32",
                ),
              },
            ],
          },
          { kind: "barrier" },
        ],
      },
      { kind: "comment", text: "write the tile's element\n(edge tiles are partly outside C)" },
      {
        kind: "if",
        cond: bin("and", bin("lt", v("row"), size("M"), "bool"), bin("lt", v("col"), size("N"), "bool"), "bool"),
        then: [
          {
            kind: "store",
            buffer: "C",
            index: bin("add", bin("mul", v("row"), size("N"), "i32"), v("col"), "i32"),
            value: v("acc", "f32"),
          },
        ],
      },
    ],
  };
})();

/** counts[x[i]] += 1 with integer atomics (bincount); out-of-range ids are skipped. */
export const bincountAtomic: Kernel = {
  name: "bincount_atomic",
  params: [input("ids", "i32"), output("counts", "i32", true)],
  sizes: ["N", "E"],
  shared: [],
  workgroupSize: 256,
  body: guarded([
    { kind: "let", name: "e", type: "i32", init: load("ids", v("i"), "i32") },
    {
      kind: "if",
      cond: bin("and", bin("ge", v("e"), c(0), "bool"), bin("lt", v("e"), size("E"), "bool"), "bool"),
      then: [{ kind: "atomicAdd", buffer: "counts", index: v("e"), value: c(1) }],
    },
  ]),
};

/** Uniform draws: element i is word (i & 1) of threefry(key, (0, i >> 1)), then bitsToUniform. */
export const randomUniform: Kernel = {
  name: "random_uniform",
  params: [input("key", "i32"), output("u", "f32"), output("bits", "i32")],
  sizes: ["N"],
  shared: [],
  workgroupSize: 256,
  comment: "u = bitsToUniform(randomBits(key))",
  body: guarded([
    { kind: "let", name: "k0", type: "u32", init: cast(load("key", c(0), "i32"), "u32") },
    { kind: "let", name: "k1", type: "u32", init: cast(load("key", c(1), "i32"), "u32") },
    { kind: "let", name: "ctr", type: "u32", init: cast(bin("shr", v("i"), c(1), "i32"), "u32") },
    {
      kind: "let",
      name: "w0",
      type: "u32",
      init: {
        kind: "call",
        fn: "threefry2x32_0",
        args: [v("k0", "u32"), v("k1", "u32"), c(0, "u32"), v("ctr", "u32")],
        type: "u32",
      },
    },
    {
      kind: "let",
      name: "w1",
      type: "u32",
      init: {
        kind: "call",
        fn: "threefry2x32_1",
        args: [v("k0", "u32"), v("k1", "u32"), c(0, "u32"), v("ctr", "u32")],
        type: "u32",
      },
    },
    {
      kind: "let",
      name: "word",
      type: "u32",
      init: select(bin("eq", bin("bitAnd", v("i"), c(1), "i32"), c(0), "bool"), v("w0", "u32"), v("w1", "u32"), "u32"),
    },
    { kind: "store", buffer: "bits", index: v("i"), value: cast(v("word", "u32"), "i32") },
    {
      kind: "store",
      buffer: "u",
      index: v("i"),
      value: { kind: "call", fn: "bitsToUniform", args: [v("word", "u32")], type: "f32" },
    },
  ]),
};

/** rows[t, :] = table[idx[t], :] with a 64-bit row offset (idx[t] * D can pass 2^31). */
export const gatherRows: Kernel = {
  name: "gather_rows",
  params: [input("table", "f16"), input("idx", "i32"), output("rows", "f16")],
  sizes: ["T", "D"],
  shared: [],
  workgroupSize: 256,
  comment: "rows = take(table, idx, axis 0)",
  body: [
    // Grid-stride loop over T*D elements: exercises numGroupsLinear and 64-bit loop counters.
    {
      kind: "for",
      var: "e",
      start: cast(gid, "i32"),
      end: bin("mul", size("T"), size("D"), "i32"),
      step: bin("mul", cast(builtin("numGroupsLinear"), "i32"), c(256), "i32"),
      body: [
        { kind: "let", name: "t", type: "i32", init: bin("div", v("e"), size("D"), "i32") },
        { kind: "let", name: "d", type: "i32", init: bin("sub", v("e"), bin("mul", v("t"), size("D"), "i32"), "i32") },
        { kind: "let", name: "src", type: "i32", init: load("idx", v("t"), "i32") },
        { kind: "let", name: "unusedScale", type: "f32", init: c(0.1, "f32") },
        {
          kind: "store",
          buffer: "rows",
          index: v("e"),
          value: load("table", bin("add", bin("mul", v("src"), size("D"), "i32"), v("d"), "i32"), "f16"),
        },
      ],
    },
  ],
};

/** Exercises bool buffers, if/else, return, literals (NaN, -0, INT_MIN, infinities) and reserved names. */
export const controlFlow: Kernel = {
  name: "control_flow",
  params: [input("mask", "bool"), input("float", "f32"), output("out", "f32"), output("flags", "bool")],
  sizes: ["N"],
  shared: [],
  workgroupSize: 32,
  body: [
    { kind: "let", name: "i", type: "i32", init: cast(gid, "i32") },
    { kind: "if", cond: bin("ge", v("i"), size("N"), "bool"), then: [{ kind: "return" }] },
    { kind: "let", name: "mf_x", type: "f32", init: load("float", v("i"), "f32"), mutable: true },
    { kind: "let", name: "int", type: "i32", init: c(-2147483648), mutable: true },
    {
      kind: "if",
      cond: load("mask", v("i"), "bool"),
      then: [{ kind: "assign", name: "mf_x", value: bin("max", v("mf_x", "f32"), c(NaN, "f32"), "f32") }],
      else: [
        {
          kind: "assign",
          name: "mf_x",
          value: select(
            bin("lt", v("mf_x", "f32"), c(-Infinity, "f32"), "bool"),
            c(-0, "f32"),
            c(Infinity, "f32"),
            "f32",
          ),
        },
        { kind: "assign", name: "int", value: bin("add", v("int"), c(1), "i32") },
      ],
    },
    { kind: "store", buffer: "out", index: v("i"), value: bin("add", v("mf_x", "f32"), cast(v("int"), "f32"), "f32") },
    { kind: "store", buffer: "flags", index: v("i"), value: un("not", load("mask", v("i"), "bool"), "bool") },
  ],
};

/** y[i] = x[clamp(i - 4, 0, N - 1)]: min/max of a 64-bit index with 32-bit operands. */
export const clampedShift: Kernel = {
  name: "clamped_shift",
  params: [input("x", "f32"), output("y", "f32")],
  sizes: ["N"],
  shared: [],
  workgroupSize: 128,
  body: guarded([
    {
      kind: "let",
      name: "j",
      type: "i32",
      init: bin(
        "min",
        bin("max", bin("sub", v("i"), c(4), "i32"), c(0), "i32"),
        bin("sub", size("N"), c(1), "i32"),
        "i32",
      ),
    },
    { kind: "store", buffer: "y", index: v("i"), value: load("x", v("j"), "f32") },
  ]),
};

/** Every hand-built kernel (unique names: they compile together in one translation unit). */
export function handKernels(): Kernel[] {
  return [
    ...unaryKernels(),
    ...binaryKernels(),
    ...castKernels(),
    rowSum,
    tiledMatmul,
    bincountAtomic,
    randomUniform,
    gatherRows,
    controlFlow,
    clampedShift,
  ];
}
