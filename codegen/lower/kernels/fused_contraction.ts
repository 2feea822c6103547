/**
 * What a grouped GEMM kernel's `Contraction` carries beyond a plain product, for
 * targets with contraction micro-kernels (wasm): the token gather read through
 * its index in A's load (`aIndex`), and the fusion group's epilogue (SwiGLU, an
 * activation, the gate-weight multiply, their backward) as kernel-IR statements
 * the micro-kernel runs on each finished output (`epilogue`). The lowering's
 * kernel body stays the definition; these describe the same computation.
 */
import type { Var } from "../../../dsl/program";
import type { Dim } from "../../../dsl/shape";
import { indexInRange } from "../../analysis/value_facts";
import type { ContractionEpilogue, Expr, ScalarType } from "../../kernel_ir";
import type { KernelBuilder } from "../builder";
import type { KernelHandle, OpContext } from "../op_context";
import { bufferParam, type TileSpec } from "./contraction";

/** A gathered A: rows index[r] of `source` (which has `rows` rows), both read from buffers. */
export interface GatheredRows {
  readonly source: string;
  readonly index: string;
  readonly rows: Dim;
}

/**
 * When kernel `k` computes `x` in place as take(source, index) along axis 0
 * (the token gather: source [N, K] f32 and index [M] i32 both in buffers) and
 * the index needs no run-time check (proven in range, or checks off: the
 * micro-kernel clamps it as the body does), the gather a micro-kernel can fuse
 * into its A load; else null (A is then read plain, materialised if computed).
 */
export function gatheredRows(ctx: OpContext, k: KernelHandle, x: Var): GatheredRows | null {
  const { values, kb } = k;
  if (!values.members.has(x) || x.dtype !== "f32" || x.shape.length !== 2) return null;
  const e = values.source.producer(x);
  if (e?.prim !== "take" || (e.params as { axis: number }).axis !== 0) return null;
  const [source, index] = e.inputs as [Var, Var];
  if (source.dtype !== "f32" || source.shape.length !== 2 || index.dtype !== "i32" || index.shape.length !== 1)
    return null;
  const sourceBuf = bufferParam(values, source);
  const indexBuf = bufferParam(values, index);
  if (!sourceBuf || !indexBuf) return null;
  if (ctx.checks && !indexInRange(ctx.facts, index, source.shape[0]!)) return null;
  kb.param(sourceBuf, "f32", "read");
  kb.param(indexBuf, "i32", "read");
  return { source: sourceBuf, index: indexBuf, rows: source.shape[0]! };
}

/**
 * The tile's `store` as a Contraction epilogue: its statements for an output at
 * fresh variables row, col and `sums` sums (of `accType`), captured as a block
 * of their own. `group` (the weight gradient's g, a variable of the body) is
 * bound by the target too.
 */
export function tileEpilogue(
  kb: KernelBuilder,
  store: TileSpec["store"],
  sums: number,
  accType: ScalarType,
  group?: Expr,
): ContractionEpilogue {
  const v = (prefix: string, type: ScalarType) => ({ kind: "var" as const, name: kb.fresh(prefix), type });
  const row = v("erow", "i32");
  const col = v("ecol", "i32");
  const s = Array.from({ length: sums }, () => v("esum", accType));
  if (group && group.kind !== "var") throw new Error("internal: an epilogue's group must be a variable");
  const body = kb.block(() => store(row, col, s[0]!, s.slice(1)));
  return { row: row.name, col: col.name, sums: s.map((x) => x.name), body, ...(group ? { group: group.name } : {}) };
}
