/**
 * Lowering: a fusion plan becomes kernels, launches and logical buffers
 * ("slots": one per materialised variable, plus scratch). Buffer reuse later
 * maps slots onto the bundle's buffers.
 */
import { dimNames } from "../../dsl/dims";
import type { Eqn, Program, Var } from "../../dsl/program";
import { shapeToString } from "../../dsl/shape";
import {
  builtin,
  c,
  type BufferDecl,
  type Expr,
  type Kernel,
  type Launch,
  type ScalarType,
  type SizeExpr,
  type Target,
} from "../kernel_ir";
import { and, eq, ge, lt, or } from "./ir_ops";
import type { FusionGroup, FusionPlan } from "../passes/fusion";
import type { Schedule } from "../schedule";
import { scalarType } from "../types";
import { collectSizes, KernelBuilder } from "./builder";
import { removeDeadLets } from "./dead_lets";
import { hoistInvariants } from "./licm";
import { numelSize } from "./index_math";
import { lowerElementwiseGroup } from "./kernels/elementwise";
import { lowerMatmulGroup } from "./kernels/matmul";
import { lowerGroupedGemmGroup } from "./ops/ragged";
import { lowerReduceGroup } from "./kernels/reduce";
import type { KernelHandle, OpContext, OpLowering } from "./op_context";
import type { LoweringTable } from "./rule";
import { ValueLowerer, type ValueSource } from "./values";
import { targetCapabilities } from "../targets";
import { verifyKernel } from "../verify";
import { analyzeValueFacts, type ValueFacts } from "../analysis/value_facts";

/** A logical buffer (a materialised variable or a scratch array), described like a bundle buffer. */
export type Slot = BufferDecl;

export interface LoweredProgram {
  readonly kernels: readonly Kernel[];
  /** Launches in order; bindings map kernel params to slots. */
  readonly launches: readonly Launch[];
  readonly slots: ReadonlyMap<string, Slot>;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly dims: readonly string[];
  /** Index checks: the flag slot and one message per check (see IndexChecks). */
  readonly checks?: { readonly slot: string; readonly messages: readonly string[] };
  /** Scratch slots written by reusable launches: each keeps a buffer of its own. */
  readonly kept: readonly string[];
}

/** Program text of one equation: `%12 = exp %11`. */
export function describeEqn(e: Eqn): string {
  return `${e.out}:${e.out.dtype}${shapeToString(e.out.shape)} = ${e.prim} ${e.inputs.join(" ")}`;
}

/** Lowers every group of `plan` to kernels (in execution order). */
export function lowerPlan(plan: FusionPlan, schedule: Schedule, table: LoweringTable, checks = false): LoweredProgram {
  return new Lowering(plan.program, schedule, table, checks).run(plan.groups);
}

/** The slot kernels report bad indices in. */
const CHECK_SLOT = "s_checks";

/** Per-group state: which variables the group computes inline and writes. */
class GroupScope {
  constructor(
    readonly group: FusionGroup,
    readonly written: Set<Var> = new Set(),
  ) {}
}

export class Lowering implements OpContext, ValueSource {
  readonly kernels: Kernel[] = [];
  readonly launches: Launch[] = [];
  readonly slots = new Map<string, Slot>();
  private readonly producers = new Map<Var, Eqn>();
  private readonly outputs: ReadonlySet<Var>;
  private scope: GroupScope | undefined;
  private tempCount = 0;
  private readonly built = new Map<string, unknown>();
  private readonly checkMessages: string[] = [];
  private readonly kept: string[] = [];
  private factsCache: ValueFacts | undefined;
  /** Variables an elementwise group would write alone, and those an earlier kernel already wrote (`writeAhead`). */
  private readonly standalone = new Set<Var>();
  private readonly aheadWritten = new Set<Var>();

  constructor(
    readonly program: Program,
    readonly schedule: Schedule,
    readonly table: LoweringTable,
    readonly checks = false,
  ) {
    for (const e of program.eqns) this.producers.set(e.out, e);
    this.outputs = new Set(program.outputs);
  }

  get target(): Target {
    return this.schedule.target;
  }

  get consts() {
    return this.program.consts;
  }

  producer(v: Var): Eqn | undefined {
    return this.producers.get(v);
  }

  run(groups: readonly FusionGroup[]): LoweredProgram {
    this.program.inputs.forEach((v) => this.declare(v, "input"));
    for (const g of groups) if (g.kind === "elementwise" && g.roots.length === 1) this.standalone.add(g.roots[0]!);
    for (const g of groups) {
      this.scope = new GroupScope(g);
      switch (g.kind) {
        case "elementwise":
          // Its one output was written ahead by a multi-output kernel (e.g. the dispatch sort).
          if (g.roots.length === 1 && this.aheadWritten.has(g.roots[0]!)) {
            this.scope.written.add(g.roots[0]!);
            break;
          }
          lowerElementwiseGroup(this, g);
          break;
        case "reduce":
          lowerReduceGroup(this, g);
          break;
        case "matmul":
          if (g.mains[0]!.prim === "matmul") lowerMatmulGroup(this, g);
          else lowerGroupedGemmGroup(this, g);
          break;
        case "op": {
          const e = g.mains[0]!;
          const rule = this.table[e.prim];
          if (rule.kind !== "op") throw new Error(`internal: ${e.prim} is not an op`);
          (rule.lower as OpLowering<typeof e.prim>)(this, e);
          break;
        }
      }
      for (const r of g.roots)
        if (!this.scope.written.has(r)) throw new Error(`internal: group ${g.id} (${g.kind}) did not write ${r}`);
    }
    if (this.checkMessages.length) this.zeroChecksFirst();
    const outputs = this.program.outputs.map((v) => this.slotOf(v));
    // Every name the inputs' shapes read, also inside expressions (an input of [4*T_div4, 8] binds T_div4).
    const dims: string[] = [];
    for (const v of this.program.inputs) for (const d of v.shape) dimNames(d, dims);
    return {
      kernels: this.kernels,
      launches: this.launches,
      slots: this.slots,
      inputs: this.program.inputs.map((v) => this.slotOf(v)),
      outputs,
      dims,
      kept: this.kept,
      ...(this.checkMessages.length ? { checks: { slot: CHECK_SLOT, messages: this.checkMessages } } : {}),
    };
  }

  checkIndex(kb: KernelBuilder, prim: string, axis: number, index: Expr, size: Expr): void {
    const message = `${prim}: index {index} is out of range for axis ${axis} of size {size}; expected 0 <= index < {size}`;
    this.check(kb, message, or(lt(index, c(0)), ge(index, size)), index, size);
  }

  check(kb: KernelBuilder, message: string, failed: Expr, index: Expr, size: Expr): void {
    if (!this.checks) return;
    let code = this.checkMessages.indexOf(message);
    if (code < 0) code = this.checkMessages.push(message) - 1;
    if (!this.slots.has(CHECK_SLOT))
      this.slots.set(CHECK_SLOT, { name: CHECK_SLOT, type: "i32", size: 3, role: "temp" });
    const flag = kb.param(CHECK_SLOT, "i32", "readWrite");
    kb.if(and(failed, eq({ kind: "load", buffer: flag, index: c(0), type: "i32" }, c(0))), () => {
      kb.store(flag, c(0), c(code + 1));
      kb.store(flag, c(1), index);
      kb.store(flag, c(2), size);
    });
  }

  /**
   * Clears the check flag before any kernel can set it: in the first launch (thread 0 of workgroup 0,
   * before its own work), when that kernel sets no check itself, runs once, cannot be skipped (not
   * reusable), is no micro-kernel contraction or panel copy and has a binding to spare; else in a launch of its own.
   */
  private zeroChecksFirst(): void {
    const clear = (kb: KernelBuilder) => {
      const flag = kb.param(CHECK_SLOT, "i32", "readWrite");
      for (let i = 0; i < 3; i++) kb.store(flag, c(i), c(0));
    };
    const first = this.launches[0];
    const kernel = first && this.kernels.find((k) => k.name === first.kernel);
    const limit = targetCapabilities(this.target).maxStorageBuffers;
    if (
      first &&
      kernel &&
      !first.reusable &&
      !kernel.contraction &&
      !kernel.pack &&
      this.launches.filter((l) => l.kernel === kernel.name).length === 1 &&
      !kernel.params.some((p) => p.name === CHECK_SLOT) &&
      (limit === null || kernel.params.length < limit)
    ) {
      const kb = new KernelBuilder(kernel.name, kernel.workgroupSize);
      const origin = and(eq(builtin("groupLinear"), c(0, "u32")), eq(builtin("localLinear"), c(0, "u32")));
      kb.if(origin, () => clear(kb));
      const prologue = kb.build();
      const folded = {
        ...kernel,
        params: [...kernel.params, prologue.params[0]!],
        body: [...prologue.body, ...kernel.body],
        comment: `${kernel.comment ?? ""}\n(first launch: also clears the index-check flag)`,
      };
      verifyKernel(folded);
      this.kernels[this.kernels.indexOf(kernel)] = folded;
      this.launches[0] = { ...first, bindings: { ...first.bindings, [CHECK_SLOT]: CHECK_SLOT } };
      return;
    }
    const kb = new KernelBuilder("k_clear_checks", 1);
    clear(kb);
    const own = { ...kb.build("clears the index-check flag"), grid: 1 };
    this.kernels.unshift(own);
    this.launches.unshift({ kernel: own.name, grid: 1, bindings: { [CHECK_SLOT]: CHECK_SLOT } });
  }

  private declare(v: Var, role: Slot["role"]): string {
    const name = `v${v.id}`;
    if (!this.slots.has(name)) {
      const constant = this.program.consts.get(v);
      this.slots.set(name, {
        name,
        type: scalarType(v.dtype),
        size: numelSize(v.shape),
        role: constant ? "const" : role,
        ...(constant ? { init: Array.from(constant.data) } : {}),
      });
    }
    return name;
  }

  /** The slot of a materialised variable (inputs, constants, group outputs). */
  slotOf(v: Var): string {
    if (this.program.consts.has(v)) return this.declare(v, "const");
    const name = `v${v.id}`;
    if (!this.slots.has(name)) throw new Error(`internal: ${v} is read before any kernel writes it`);
    return name;
  }

  /** Starts a kernel; operands fused into the current group are computed in place. */
  kernel(hint: string, workgroupSize: number): KernelHandle {
    const kb = new KernelBuilder(`k${this.kernels.length}_${hint}`, workgroupSize);
    const members = this.scope?.group.members ?? new Set<Var>();
    return { kb, values: new ValueLowerer(kb, this, members) };
  }

  launch(k: KernelHandle, grid: SizeExpr, comment: string, options: { readonly reusable?: boolean } = {}): void {
    const built = k.kb.build(comment);
    // Verified as lowered and again after the kernel-IR rewrites below.
    verifyKernel({ ...built, sizes: collectSizes(built.body, built.contraction) });
    const body = removeDeadLets(built.body);
    // Some targets' compilers (V8) hoist little out of loops; GPU compilers do their own code motion.
    const hoist = targetCapabilities(this.target).hoistInvariants;
    const kernel = {
      ...built,
      sizes: collectSizes(body, built.contraction),
      body: hoist ? hoistInvariants(body) : body,
      grid,
    };
    verifyKernel(kernel);
    this.kernels.push(kernel);
    const bindings: Record<string, string> = {};
    for (const p of kernel.params) bindings[p.name] = p.name;
    this.launches.push({ kernel: kernel.name, grid, bindings, ...this.reusable(kernel, options.reusable) });
  }

  /** A reusable launch's inputs: when `k` reads only program inputs and writes only scratch (kept apart). */
  private reusable(k: Kernel, asked = false): { reusable?: { inputs: string[] } } {
    if (!asked) return {};
    const inputs = new Set(this.program.inputs.map((v) => `v${v.id}`));
    const reads = k.params.filter((p) => p.access === "read").map((p) => p.name);
    const writes = k.params.filter((p) => p.access === "readWrite").map((p) => p.name);
    const scratch = (name: string) => this.slots.get(name)?.role === "temp" && !name.startsWith("v");
    if (!reads.every((r) => inputs.has(r)) || !writes.every(scratch)) return {};
    this.kept.push(...writes);
    return { reusable: { inputs: reads } };
  }

  output(k: KernelHandle, v: Var, atomic = false): string {
    const name = this.declare(v, this.outputs.has(v) ? "output" : "temp");
    this.scope?.written.add(v);
    return k.kb.param(name, scalarType(v.dtype), "readWrite", atomic);
  }

  temp(type: ScalarType, size: SizeExpr, hint: string): string {
    const name = `s${this.tempCount++}_${hint}`;
    this.slots.set(name, { name, type, size, role: "temp" });
    return name;
  }

  once<T>(key: string, build: () => T): T {
    if (!this.built.has(key)) this.built.set(key, build());
    return this.built.get(key) as T;
  }

  bindTemp(k: KernelHandle, name: string, access: "read" | "readWrite", atomic = false): string {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`internal: unknown scratch buffer ${name}`);
    return k.kb.param(name, slot.type, access, atomic);
  }

  describe(e: Eqn): string {
    return describeEqn(e);
  }

  get facts(): ValueFacts {
    return (this.factsCache ??= analyzeValueFacts(this.program));
  }

  writeAhead(k: KernelHandle, v: Var): string | undefined {
    if (!this.standalone.has(v) || this.aheadWritten.has(v)) return undefined;
    this.aheadWritten.add(v);
    return k.kb.param(this.declare(v, this.outputs.has(v) ? "output" : "temp"), scalarType(v.dtype), "readWrite");
  }

  writtenEarlier(v: Var): void {
    if (!this.slots.has(`v${v.id}`)) throw new Error(`internal: ${v} was not written by an earlier kernel`);
    this.scope?.written.add(v);
  }

  /** Comment for a group's kernel: the equations it computes, in program order. */
  describeGroup(g: FusionGroup): string {
    const eqns = this.program.eqns.filter((e) => g.members.has(e.out) || g.mains.includes(e));
    return eqns.map(describeEqn).join("\n");
  }
}
