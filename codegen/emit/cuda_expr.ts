/**
 * Kernel-IR expressions rendered as CUDA C++: the ops are spelled by the op
 * tables (kernel_ops.ts, kernel_ops_binary.ts); here are the type rules (which C++ type each rendered
 * expression has, where the emitter inserts conversions, when integer math is
 * widened to 64 bits).
 */
import type { Builtin, Expr, Intrinsic, ScalarType } from "../kernel_ir";
import { UNARY_OPS, type CudaOpClass } from "../kernel_ops";
import { BINARY_OPS, givesBool } from "../kernel_ops_binary";
import { I32_MAX } from "../analysis/ranges";
import type { KernelRanges } from "../analysis/ranges";
import { cudaType, literal, type CudaStorageType, type CudaType } from "./cuda_types";

/** A rendered expression and its C++ type. */
export interface Rendered {
  readonly code: string;
  readonly type: CudaType;
}

type OpClass = CudaOpClass;

/** Builtins: the local the kernel prologue defines for each, and its C++ type. */
export const BUILTINS: { readonly [b in Builtin]: Rendered } = {
  globalLinear: { code: "mf_global", type: "long long" },
  groupLinear: { code: "mf_group", type: "long long" },
  localLinear: { code: "mf_local", type: "int" },
  numGroupsLinear: { code: "mf_num_groups", type: "long long" },
};

const INTRINSICS: { readonly [f in Intrinsic]: { readonly fn: string } } = {
  threefry2x32_0: { fn: "mf_threefry2x32_0" },
  threefry2x32_1: { fn: "mf_threefry2x32_1" },
  bitsToUniform: { fn: "mf_bits_to_uniform" },
  isNan: { fn: "isnan" },
  opaque: { fn: "" }, // nvcc does not reject constant overflow: the value itself
};

function opClass(t: CudaType): OpClass {
  switch (t) {
    case "__half":
      throw new TypeError("CUDA: an f16 operation reached the renderer (f16ComputesInF32 makes it f32)");
    case "float":
      return "float";
    case "int":
      return "int";
    case "unsigned int":
      return "uint";
    case "long long":
      return "wide";
    case "bool":
      return "bool";
  }
}

/** Converts a rendered value to another C++ type with the interpreter's semantics (truncation toward zero, NaN -> 0 / false). */
export function convert(r: Rendered, to: CudaType): string {
  if (r.type === to || (r.type === "int" && to === "long long")) return r.code; // exact, implicit
  // f16 converts through float both ways (rounding to half on the way in).
  if (r.type === "__half") return convert({ code: `__half2float(${r.code})`, type: "float" }, to);
  if (to === "__half") return `__float2half(${convert(r, "float")})`;
  if (to === "bool") return `mf_to_bool(${r.code})`;
  if (r.type === "bool") return to === "float" ? `(${r.code} ? 1.0f : 0.0f)` : `(${to})(${r.code})`;
  if (r.type === "float") {
    const fn: Record<Exclude<CudaType, "bool" | "float" | "__half">, string> = {
      int: "__float2int_rz",
      "unsigned int": "__float2uint_rz",
      "long long": "__float2ll_rz",
    };
    return `${fn[to as keyof typeof fn]}(${r.code})`;
  }
  return `(${to})(${r.code})`;
}

/** Where a kernel's expressions read their names and index widths from. */
export interface ExprScope {
  readonly kernelName: string;
  /** Buffer and shared-array element types in device memory, by IR name. */
  readonly storage: ReadonlyMap<string, CudaStorageType>;
  /** Which i32 index math may pass 2^31 (computed in 64 bits). */
  readonly ranges: KernelRanges;
  /** The C++ identifier for an IR name. */
  ident(name: string): string;
}

/**
 * Renders a kernel-IR expression. `inIndex` is true inside the index of a
 * buffer load or store, where i32 add/sub/mul are computed in 64 bits.
 */
export function renderExpr(e: Expr, scope: ExprScope, inIndex = false): Rendered {
  const fail = (why: string): never => {
    throw new TypeError(`CUDA emitter, kernel "${scope.kernelName}": ${why}`);
  };
  const sub = (x: Expr): Rendered => renderExpr(x, scope, inIndex);
  switch (e.kind) {
    case "const":
      // A folded index constant past 2^31 (a static element count) is a 64-bit literal.
      if (e.type === "i32" && (e.value > I32_MAX || e.value < -I32_MAX - 1))
        return { code: `${e.value}LL`, type: "long long" };
      return { code: literal(e.value, e.type), type: cudaType(e.type) };
    case "var":
      return {
        code: scope.ident(e.name),
        type: e.type === "i32" && scope.ranges.varMayExceedI32(e.name) ? "long long" : cudaType(e.type),
      };
    case "size":
      return { code: scope.ident(e.name), type: "int" };
    case "builtin":
      return BUILTINS[e.name];
    case "load":
    case "sharedLoad": {
      const name = e.kind === "load" ? e.buffer : e.array;
      // Buffer offsets can pass 2^31; shared-array offsets are bounded by the array's length.
      const index = renderExpr(e.index, scope, e.kind === "load");
      return { code: `${scope.ident(name)}[${index.code}]`, type: cudaType(e.type) };
    }
    case "unary": {
      const a = sub(e.arg);
      const wide = e.op === "neg" && e.type === "i32" && (inIndex || scope.ranges.mayExceedI32(e));
      const arg = wide ? widen(a) : a;
      const fmt =
        UNARY_OPS[e.op].cuda[opClass(arg.type)] ??
        fail(`unary op "${e.op}" has no CUDA lowering for ${e.type} operands`);
      return { code: fmt(arg.code), type: e.op === "not" ? "bool" : arg.type };
    }
    case "binary":
      return renderBinary(e, sub(e.lhs), sub(e.rhs), scope, inIndex, fail);
    case "select": {
      const cond = sub(e.cond);
      let [a, b] = [sub(e.onTrue), sub(e.onFalse)];
      if (a.type !== b.type) [a, b] = unify(a, b);
      return { code: `(${convert(cond, "bool")} ? ${a.code} : ${b.code})`, type: a.type };
    }
    case "cast":
      return renderCast(sub(e.arg), e.type, scope, e, inIndex);
    case "call": {
      const spec = INTRINSICS[e.fn];
      if (e.fn === "opaque") return sub(e.args[0]!);
      if (e.fn === "isNan") return { code: `${spec.fn}(${convert(sub(e.args[0]!), "float")})`, type: "bool" }; // f16 widens exactly
      const args = e.args.map((x) => convert(sub(x), "unsigned int"));
      if (e.fn === "bitsToUniform") return { code: `${spec.fn}(${args[0]})`, type: "float" };
      return { code: `${spec.fn}(${args.join(", ")})`, type: "unsigned int" };
    }
  }
}

/** Operands of different types meet in the wider one (an int operand of a 64-bit op converts implicitly). */
function unify(a: Rendered, b: Rendered): [Rendered, Rendered] {
  const to: CudaType =
    a.type === "long long" || b.type === "long long"
      ? "long long"
      : a.type === "float" || b.type === "float"
        ? "float"
        : a.type;
  return [
    { code: convert(a, to), type: to },
    { code: convert(b, to), type: to },
  ];
}

/** An explicit widening, so that the operation itself runs in 64 bits. */
function widen(r: Rendered): Rendered {
  return r.type === "long long" ? r : { code: `(long long)${r.code}`, type: "long long" };
}

function renderBinary(
  e: Extract<Expr, { kind: "binary" }>,
  lhs: Rendered,
  rhs: Rendered,
  scope: ExprScope,
  inIndex: boolean,
  fail: (why: string) => never,
): Rendered {
  let [a, b] = lhs.type === rhs.type ? [lhs, rhs] : unify(lhs, rhs);
  // Index math (positions, sizes) uses plain C++ operators; sums and products that
  // can pass 2^31 are computed in 64 bits.
  const indexMath = e.type === "i32" && (inIndex || scope.ranges.isIndex(e));
  const wide = e.type === "i32" && (inIndex || scope.ranges.mayExceedI32(e));
  if (wide && (e.op === "add" || e.op === "sub" || e.op === "mul") && a.type === "int") {
    a = widen(a);
    b = { code: b.code, type: "long long" }; // C++ promotes the other operand
  }
  // The overloaded mf_max/mf_min need both arguments of exactly one type.
  if ((e.op === "max" || e.op === "min") && lhs.type !== rhs.type) [a, b] = [widen(lhs), widen(rhs)];
  const cls = indexMath && a.type !== "float" ? "wide" : opClass(a.type);
  const fmt =
    BINARY_OPS[e.op].cuda[cls] ??
    fail(`binary op "${e.op}" has no CUDA lowering for ${a.type} operands (result type ${e.type})`);
  return { code: fmt(a.code, b.code), type: givesBool(e.op) ? "bool" : a.type };
}

function renderCast(arg: Rendered, to: ScalarType, scope: ExprScope, e: Expr, inIndex: boolean): Rendered {
  if (to === "i32" && arg.type === "long long" && (inIndex || scope.ranges.mayExceedI32(e))) return arg; // stays a 64-bit index
  const target = cudaType(to, `CUDA emitter, kernel "${scope.kernelName}"`);
  return { code: convert(arg, target), type: target };
}
