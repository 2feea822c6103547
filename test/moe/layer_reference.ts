/**
 * A dense, loop-based reference for the whole MoE layer: routing decided per
 * token in JavaScript, every expert evaluated per token, outputs as masked
 * sums, capacity by sequential admission. Randomness (noise, GShard's draw)
 * comes from the same keys as the layer's, drawn with `random.*` directly.
 */
import { random, type Tensor } from "../../index";
import type { GateConfig, MoeContext } from "../../moe/index";
import {
  addV,
  denseCombine,
  mat,
  softmaxV,
  softplus1,
  topKIdx,
  vec,
  vecMat,
  zerosV,
  type Assignment,
  type ExpertFn,
  type Mat,
} from "./reference";

export interface ReferenceInput {
  gate: GateConfig;
  numExperts: number;
  capacityFactor?: number;
  router?: { w?: Tensor; wNoise?: Tensor; phi?: Tensor };
  expert: ExpertFn;
  shared?: ExpertFn[];
  residual?: boolean;
  x: Mat;
  dOut: number;
  ctx?: MoeContext;
}

/** Token-choice assignments in priority order (choice-major), plus the k used. */
function tokenChoice(inp: ReferenceInput): { assignments: Assignment[]; k: number } {
  const { gate, x, numExperts: E } = inp;
  const T = x.length;
  const logits = inp.router?.w ? x.map((row) => vecMat(row, mat(inp.router!.w!))) : [];
  const byChoice = (
    chosen: number[][],
    weight: (t: number, j: number) => number,
    keep: (t: number, j: number) => boolean = () => true,
  ) => {
    const out: Assignment[] = [];
    for (let j = 0; j < chosen[0]!.length; j++)
      chosen.forEach((c, t) => keep(t, j) && out.push({ token: t, expert: c[j]!, weight: weight(t, j) }));
    return out;
  };
  switch (gate.type) {
    case "softmax": {
      const probs = logits.map(softmaxV);
      return {
        assignments: byChoice(
          probs.map(() => Array.from({ length: E }, (_, e) => e)),
          (t, j) => probs[t]![j]!,
        ),
        k: E,
      };
    }
    case "topK": {
      const probs = logits.map(softmaxV);
      const chosen = logits.map((row) => topKIdx(row, gate.k));
      const w = (t: number, j: number) => {
        const kept = chosen[t]!.map((e) => probs[t]![e]!);
        return gate.renormalize === false ? kept[j]! : kept[j]! / kept.reduce((a, b) => a + b, 0);
      };
      return { assignments: byChoice(chosen, w), k: gate.k };
    }
    case "noisyTopK": {
      const std = x.map((row) => vecMat(row, mat(inp.router!.wNoise!)).map(softplus1));
      const eps = inp.ctx?.key ? mat(random.normal(inp.ctx.key, [T, E], "f64")) : logits.map((row) => row.map(() => 0));
      const noisy = logits.map((row, t) => row.map((c, e) => c + eps[t]![e]! * std[t]![e]!));
      const chosen = noisy.map((row) => topKIdx(row, gate.k));
      return { assignments: byChoice(chosen, (t, j) => softmaxV(chosen[t]!.map((e) => noisy[t]![e]!))[j]!), k: gate.k };
    }
    case "gshardTop2": {
      const probs = logits.map(softmaxV);
      const chosen = probs.map((p) => topKIdx(p, 2));
      const w = (t: number, j: number) =>
        probs[t]![chosen[t]![j]!]! / (probs[t]![chosen[t]![0]!]! + probs[t]![chosen[t]![1]!]!);
      const u = inp.ctx?.key ? vec(random.uniform(inp.ctx.key, [T, 1], { dtype: "f64" })) : undefined;
      return { assignments: byChoice(chosen, w, (t, j) => j === 0 || !u || u[t]! < 2 * w(t, 1)), k: 2 };
    }
    case "hash": {
      const table = vec(gate.table);
      const ids = vec(inp.ctx!.tokenIds!);
      return { assignments: ids.map((id, t) => ({ token: t, expert: table[id]!, weight: 1 })), k: 1 };
    }
    default:
      throw new Error(`not a token-choice gate: ${gate.type}`);
  }
}

/** The reference output [T, dOut] and drop fraction. */
export function referenceLayer(inp: ReferenceInput): { y: Mat; dropFraction: number; counts: number[] } {
  const { gate, x, numExperts: E } = inp;
  const T = x.length;
  let y: Mat;
  let dropFraction = 0;
  let counts: number[];
  if (gate.type === "soft") {
    const p = gate.slotsPerExpert;
    const L = x.map((row) => vecMat(row, mat(inp.router!.phi!)));
    const S = E * p;
    const dispatchCols = Array.from({ length: S }, (_, s) => softmaxV(L.map((row) => row[s]!)));
    const slotIn = dispatchCols.map((col) =>
      col.reduce(
        (acc, wt, t) =>
          addV(
            acc,
            x[t]!.map((v) => v * wt),
          ),
        zerosV(x[0]!.length),
      ),
    );
    const slotOut = slotIn.map((xs, s) => inp.expert(Math.floor(s / p), xs));
    y = L.map((row) =>
      softmaxV(row).reduce(
        (acc, c, s) =>
          addV(
            acc,
            slotOut[s]!.map((v) => v * c),
          ),
        zerosV(inp.dOut),
      ),
    );
    counts = new Array<number>(E).fill(p);
  } else if (gate.type === "expertChoice") {
    const probs = x.map((row) => softmaxV(vecMat(row, mat(inp.router!.w!))));
    const c = Math.max(1, Math.ceil((T * gate.capacityFactor) / E - 1e-9));
    const assignments: Assignment[] = [];
    for (let e = 0; e < E; e++) {
      const col = probs.map((pr) => pr[e]!);
      for (const t of topKIdx(col, c)) assignments.push({ token: t, expert: e, weight: col[t]! });
    }
    y = denseCombine(x, assignments, inp.expert, inp.dOut).y;
    dropFraction =
      Array.from({ length: T }, (_, t) => t).filter((t) => !assignments.some((a) => a.token === t)).length / T;
    counts = new Array<number>(E).fill(c);
  } else {
    const { assignments, k } = tokenChoice(inp);
    const capacity =
      inp.capacityFactor === undefined ? undefined : Math.max(1, Math.ceil((inp.capacityFactor * k * T) / E - 1e-9));
    ({ y, dropFraction } = denseCombine(x, assignments, inp.expert, inp.dOut, capacity));
    counts = Array.from({ length: E }, (_, e) => assignments.filter((a) => a.expert === e).length);
  }
  if (inp.shared) y = y.map((row, t) => inp.shared!.reduce((acc, f, s) => addV(acc, f(s, x[t]!)), row));
  if (inp.residual) y = y.map((row, t) => addV(row, x[t]!));
  return { y, dropFraction, counts };
}
