/**
 * MoE expert blocks for the grouped-GEMM fusion tests: rows gathered from the
 * tokens by an index (`take`), grouped GEMMs per expert (raggedMatmul), a
 * SwiGLU or plain FFN activation, and the gate-weight multiply, with routings
 * that exercise the tile walk: balanced, skewed (one expert > 90% of rows),
 * empty experts, every row in one expert.
 */
import { spec, trace } from "../../dsl/api";
import { tensor } from "../../dsl/creation";
import { dimMul, type Dim } from "../../dsl/dims";
import * as ops from "../../dsl/ops";
import type { Program } from "../../dsl/program";
import type { Tensor } from "../../dsl/tensor";
import { vjpProgram } from "../../autodiff/vjp";
import { mulberry32, randomFloats } from "../../testing/random_programs";

export type Activation = "swiglu" | "relu" | "gelu";
export type Routing = "balanced" | "skewed" | "empty" | "oneExpert";

export interface BlockConfig {
  readonly T: number;
  readonly D: number;
  readonly H: number;
  readonly E: number;
  /** Rows per token (top-k). */
  readonly K: number;
}

/** Weight inputs of an activation's experts, in order after x, tok, sizes. */
function weightCount(act: Activation): number {
  return act === "swiglu" ? 3 : 2;
}

/**
 * The expert block: x [T, D], tok [T*K] (row -> token), sizes [E], the experts'
 * weights, gate [T*K] -> y [T*K, D] = ffn(x[tok]) * gate, rows grouped by expert.
 */
export function expertBlock(act: Activation, ...a: Tensor[]): Tensor {
  const [x, tok, sizes] = a as [Tensor, Tensor, Tensor];
  const rows = ops.take(x, tok);
  const w = a.slice(3, 3 + weightCount(act));
  const gate = a[3 + weightCount(act)]!;
  const hidden =
    act === "swiglu"
      ? ops.mul(ops.silu(ops.raggedMatmul(rows, w[0]!, sizes)), ops.raggedMatmul(rows, w[1]!, sizes))
      : ops[act](ops.raggedMatmul(rows, w[0]!, sizes));
  const out = ops.raggedMatmul(hidden, w[w.length - 1]!, sizes);
  return ops.mul(out, ops.reshape(gate, [gate.shape[0]!, 1]));
}

/** The block traced with token count `T` (a number, or a name for a symbolic trace). */
export function blockProgram(act: Activation, cfg: BlockConfig, T: Dim = cfg.T): Program {
  const { D, H, E, K } = cfg;
  const R = dimMul(T, K);
  const weights =
    act === "swiglu" ? [spec([E, D, H]), spec([E, D, H]), spec([E, H, D])] : [spec([E, D, H]), spec([E, H, D])];
  return trace(
    (...a: Tensor[]) => expertBlock(act, ...a),
    spec([T, D]),
    spec([R], "i32"),
    spec([E], "i32"),
    ...weights,
    spec([R]),
  );
}

/** Group sizes of `rows` rows over `E` experts for a routing. */
export function groupSizes(routing: Routing, rows: number, E: number, rng: () => number): number[] {
  const sizes = new Array<number>(E).fill(0);
  if (routing === "oneExpert") {
    sizes[E - 1] = rows;
    return sizes;
  }
  const heavy = routing === "skewed" ? Math.ceil(rows * 0.92) : 0;
  sizes[0] = heavy;
  const open = routing === "empty" ? [...Array(E).keys()].filter((e) => e % 2 === 0) : [...Array(E).keys()];
  for (let r = heavy; r < rows; r++) sizes[open[Math.floor(rng() * open.length)]!]!++;
  return sizes;
}

/** Random inputs of the block at `T` tokens (weights scaled by 1/sqrt(fan-in)); a cotangent when `gradient`. */
export function blockInputs(
  act: Activation,
  cfg: BlockConfig,
  routing: Routing,
  T: number,
  seed: number,
  gradient: boolean,
): Tensor[] {
  const { D, H, E, K } = cfg;
  const rng = mulberry32(seed);
  const R = T * K;
  const tok = tensor(
    Array.from({ length: R }, () => Math.floor(rng() * T)),
    [R],
    "i32",
  );
  const sizes = tensor(groupSizes(routing, R, E, rng), [E], "i32");
  const up = [randomFloats(rng, "f32", [E, D, H], 1 / Math.sqrt(D))];
  if (act === "swiglu") up.push(randomFloats(rng, "f32", [E, D, H], 1 / Math.sqrt(D)));
  return [
    randomFloats(rng, "f32", [T, D]),
    tok,
    sizes,
    ...up,
    randomFloats(rng, "f32", [E, H, D], 1 / Math.sqrt(H)),
    randomFloats(rng, "f32", [R]),
    ...(gradient ? [randomFloats(rng, "f32", [R, D])] : []),
  ];
}

/** The block's forward and gradient (vjp with a cotangent input) programs. */
export function blockPrograms(
  act: Activation,
  cfg: BlockConfig,
  T: Dim = cfg.T,
): { forward: Program; gradient: Program } {
  const forward = blockProgram(act, cfg, T);
  return { forward, gradient: vjpProgram(forward) };
}
