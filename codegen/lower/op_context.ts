/**
 * What a kernel-lowering function sees: the schedule, a way to start kernels
 * (with operand producers fused in), buffers for outputs and scratch, launches.
 */
import type { Eqn, Var } from "../../dsl/program";
import type { Primitive } from "../../dsl/primitives/params";
import type { Expr, ScalarType, SizeExpr, Target } from "../kernel_ir";
import type { ValueFacts } from "../analysis/value_facts";
import type { Schedule } from "../schedule";
import type { KernelBuilder } from "./builder";
import type { ValueLowerer } from "./values";

export interface KernelHandle {
  readonly kb: KernelBuilder;
  /** Reads operands (fused producers are computed in place). */
  readonly values: ValueLowerer;
}

export interface OpContext {
  readonly schedule: Schedule;
  readonly target: Target;
  /** Starts a kernel named after `hint` with `workgroupSize` threads per workgroup. */
  kernel(hint: string, workgroupSize: number): KernelHandle;
  /**
   * Finishes `k` and appends a launch of `grid` workgroups (`comment`: what it computes, in Program terms).
   * `reusable`: `k` writes only scratch that nothing else writes (a packed weight); when it reads only
   * program inputs, its scratch gets a buffer of its own and the launch is marked `Launch.reusable`.
   */
  launch(k: KernelHandle, grid: SizeExpr, comment: string, options?: { readonly reusable?: boolean }): void;
  /** The buffer param for a variable the group writes (declared read-write in `k`). */
  output(k: KernelHandle, v: Var, atomic?: boolean): string;
  /** A scratch buffer of `size` elements, live for this group only; returns its name (bind it with `bindTemp`). */
  temp(type: ScalarType, size: SizeExpr, hint: string): string;
  /**
   * `build()` once per bundle under `key`, its result returned to every later
   * caller: scratch buffers and the kernels that fill them, reused by later
   * equations (e.g. the order of a scatter's indices, shared by every scatter
   * with the same indices). Buffer reuse sees the later bindings, so the
   * buffers stay live as long as they are read.
   */
  once<T>(key: string, build: () => T): T;
  /** Declares scratch buffer `name` as a param of `k`. */
  bindTemp(k: KernelHandle, name: string, access: "read" | "readWrite", atomic?: boolean): string;
  /** Emits a run-time check that `index` is in [0, size) for `prim`'s `axis` (a no-op when checks are off). */
  checkIndex(kb: KernelBuilder, prim: string, axis: number, index: Expr, size: Expr): void;
  /** Whether run-time checks are compiled in. */
  readonly checks: boolean;
  /**
   * Emits a run-time check: when `failed` holds, the bundle fails with `message`,
   * its `{index}` and `{size}` replaced by the values of `index` and `size` (no-op when checks are off).
   */
  check(kb: KernelBuilder, message: string, failed: Expr, index: Expr, size: Expr): void;
  /** Integer facts about the program's values (ranges, permutations, index functions): `analysis/value_facts.ts`. */
  readonly facts: ValueFacts;
  /**
   * Records that `v`, an output of the current group, was already written by an
   * earlier kernel of the bundle (a multi-output kernel another equation built
   * through `once`, e.g. bincount counts written by the dispatch sort).
   */
  writtenEarlier(v: Var): void;
  /**
   * The buffer param for `v`, a value a later elementwise group would compute and write alone,
   * when this kernel can write it instead (that group is then skipped); undefined otherwise.
   */
  writeAhead(k: KernelHandle, v: Var): string | undefined;
  /** Program text of an equation (for kernel comments). */
  describe(e: Eqn): string;
}

/** Lowers one `op` primitive (a kernel of its own) to one or more kernels. */
export type OpLowering<P extends Primitive> = (ctx: OpContext, eqn: Eqn<P>) => void;
