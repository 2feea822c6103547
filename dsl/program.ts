import type { DType } from "./dtype";
import type { NDArray } from "./ndarray";
import { shapeToString, type Shape } from "./shape";
import type { Primitive, PrimParams } from "./primitives/params";
import type { TreeDef } from "./pytree";

/** An abstract value: what the tracer knows about a tensor. */
export interface Aval {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** An SSA variable of a Program. */
export class Var implements Aval {
  constructor(
    readonly id: number,
    readonly shape: Shape,
    readonly dtype: DType,
  ) {}

  toString(): string {
    return `%${this.id}`;
  }
}

/** One equation: `out = prim(inputs; params)`. Every primitive has exactly one output. */
export interface Eqn<P extends Primitive = Primitive> {
  readonly prim: P;
  readonly inputs: readonly Var[];
  readonly params: PrimParams[P];
  readonly out: Var;
  /** Where the user's code created it (equations recorded by a trace; transforms may drop it). */
  readonly site?: { readonly location: string | undefined };
}

/**
 * A typed SSA program: inputs, constants, equations in order, outputs.
 * Programs are immutable values; transformations (autodiff, codegen passes) build new ones.
 */
export class Program {
  constructor(
    readonly inputs: readonly Var[],
    readonly consts: ReadonlyMap<Var, NDArray>,
    readonly eqns: readonly Eqn[],
    readonly outputs: readonly Var[],
    /** Structure of the user's arguments (a pytree of the inputs), when traced from a function. */
    readonly inTree?: TreeDef,
    /** Structure of the user's result (a pytree of the outputs). */
    readonly outTree?: TreeDef,
  ) {}

  /** Readable listing, one equation a line. */
  toString(): string {
    const fmt = (v: Var) => `${v}:${v.dtype}${shapeToString(v.shape)}`;
    const lines: string[] = [];
    lines.push(`program(${this.inputs.map(fmt).join(", ")}) {`);
    for (const [v, arr] of this.consts) {
      const preview = arr.size <= 4 ? `[${Array.from(arr.data).join(", ")}]` : `<${arr.size} values>`;
      lines.push(`  ${fmt(v)} = const ${preview}`);
    }
    for (const e of this.eqns) {
      const params = formatParams(e.params as Record<string, unknown>);
      lines.push(`  ${fmt(e.out)} = ${e.prim}${params ? `{${params}}` : ""} ${e.inputs.join(" ")}`);
    }
    lines.push(`  return ${this.outputs.join(", ")}`);
    lines.push("}");
    return lines.join("\n");
  }
}

function formatParams(p: Record<string, unknown>): string {
  return Object.entries(p)
    .filter(
      ([, v]) =>
        (v !== undefined && typeof v !== "function" && !(v instanceof Program) && typeof v !== "object") ||
        Array.isArray(v),
    )
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(",")}]` : String(v)}`)
    .join(" ");
}
