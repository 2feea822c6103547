/**
 * Values of Program variables inside one kernel. A variable is read from its
 * buffer, taken from a scalar the kernel already holds (a reduction result, a
 * matmul accumulator), inlined as a literal (scalar constants), or computed in
 * place from its equation (fused members). Each (variable, index) is computed
 * once per scope and bound to a `let`, so shared subexpressions are not recomputed.
 */
import type { NDArray } from "../../dsl/ndarray";
import type { Eqn, Var } from "../../dsl/program";
import type { Primitive } from "../../dsl/primitives/params";
import { c, load, type Expr, type ScalarType } from "../kernel_ir";
import type { KernelBuilder } from "./builder";
import { imax, imin, linearize } from "./index_math";
import { ruleOf, type ExprLowering, type LoweringTable } from "./rule";
import type { ValueFacts } from "../analysis/value_facts";
import { scalarType } from "../types";

/** What a kernel knows about the program around it. */
export interface ValueSource {
  readonly table: LoweringTable;
  /** The equation defining a variable (absent for inputs and constants). */
  producer(v: Var): Eqn | undefined;
  readonly consts: ReadonlyMap<Var, NDArray>;
  /** The buffer (logical slot) holding a materialised variable. */
  slotOf(v: Var): string;
  /** Emits a run-time check that `index` is in [0, size) for `prim`'s `axis` (a no-op when checks are off). */
  checkIndex(kb: KernelBuilder, prim: string, axis: number, index: Expr, size: Expr): void;
  /** Integer facts about the program's values (an index proven in range needs no run-time check). */
  readonly facts: ValueFacts;
}

export class ValueLowerer {
  /** Values the kernel holds in registers (reduction results, accumulators), by variable. */
  readonly scalars = new Map<Var, Expr>();

  constructor(
    readonly kb: KernelBuilder,
    readonly source: ValueSource,
    /** Variables computed inline in this kernel. */
    readonly members: ReadonlySet<Var>,
  ) {}

  /** The value of `v` at multi-index `idx` (one i32 expression per dim of `v`). */
  at(v: Var, idx: readonly Expr[]): Expr {
    const held = this.scalars.get(v);
    if (held) return held;
    const type = scalarType(v.dtype);
    const constant = this.source.consts.get(v);
    if (constant && constant.size === 1) return c(constant.data[0]!, type);
    const key = `${v.id}@${JSON.stringify(idx)}`;
    if (this.members.has(v)) {
      const eqn = this.source.producer(v);
      if (!eqn) throw new Error(`internal: fused variable ${v} has no equation`);
      const rule = ruleOf(this.source.table, eqn);
      if (rule.kind !== "expr")
        throw new Error(`internal: ${eqn.prim} (${v}) is not an expression and cannot be fused`);
      return this.kb.cached(key, () =>
        this.kb.let((rule.expr as ExprLowering<Primitive>)(this, eqn, idx), `t${v.id}_`, type),
      );
    }
    return this.kb.cached(key, () => this.kb.let(this.loadFrom(v, linearize(idx, v.shape)), `t${v.id}_`, type));
  }

  /** A load of materialised `v` at a flat offset (declares the buffer param). */
  loadFrom(v: Var, flat: Expr): Expr {
    const type = scalarType(v.dtype);
    const slot = this.source.slotOf(v);
    this.kb.param(slot, type, "read");
    return load(slot, flat, type);
  }

  /** Clamps a data-dependent index into [0, size): kernels never read out of bounds. */
  clampIndex(i: Expr, sizeExpr: Expr): Expr {
    return imin(imax(i, c(0)), { kind: "binary", op: "sub", lhs: sizeExpr, rhs: c(1), type: "i32" });
  }

  /** Type of `v` in kernels. */
  typeOf(v: Var): ScalarType {
    return scalarType(v.dtype);
  }
}
