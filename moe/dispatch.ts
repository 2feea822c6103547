/**
 * Dispatch and combine. A routing decision becomes a *plan*: which token feeds
 * each expert row and with what combine weight, the rows laid out in
 * contiguous expert groups. `dispatchRows` gathers the rows (x -> expert
 * order), the experts run as grouped GEMMs, and `combineRows` scatter-adds the
 * weighted outputs back to their tokens (deterministic, in row order).
 *
 * Token choice has two layouts:
 * - dropless: every assignment gets a row; rows are the assignments sorted by
 *   expert (`argsort`), group sizes are per-expert counts (`bincount`);
 * - capacity C: a fixed buffer of E·C rows; an assignment's slot in its
 *   expert's buffer is its rank among that expert's assignments (`cumsum` of
 *   one-hot), first choices of all tokens before second choices, token order
 *   within each; assignments ranked >= C are dropped (their weight is lost, so
 *   a token with all assignments dropped passes through on the residual path).
 */
import {
  add,
  argsort,
  bincount,
  broadcastTo,
  cast,
  cumsum,
  div,
  expandDims,
  full,
  logicalAnd,
  less,
  maximum,
  mean,
  mul,
  oneHot,
  ones,
  reshape,
  scatterAdd,
  slice,
  sub,
  sum,
  take,
  transpose,
  where,
  zeros,
  greater,
  dims,
  type Dim,
  type Tensor,
  type FloatDType,
} from "../core";
import { checkInt, checkPositive } from "./check";
import { uniformGroups, type ExpertGroups } from "./experts/types";
import type { ExpertChoice, TokenChoice } from "./gates/types";
import { dimScalar, iota, rational, tile } from "./util";

/** Where each expert row comes from and goes to. */
export interface DispatchPlan {
  /** The token count T: a size, or a named dim (one trace for every T). */
  readonly numTokens: Dim;
  readonly numExperts: number;
  /** i32 [M]: the token feeding each row. */
  readonly rowToken: Tensor;
  /** [M]: each row's combine weight (0 for empty buffer rows and dropped assignments). */
  readonly rowWeight: Tensor;
  /** [M]: 1 for rows holding an assignment, 0 for empty capacity-buffer rows; absent when every row is used. */
  readonly rowValid?: Tensor;
  /** The row layout for the experts. */
  readonly groups: ExpertGroups;
  /** i32 [E]: assignments routed to each expert before any capacity limit. */
  readonly expertCounts: Tensor;
  /** Scalar: the fraction of assignments dropped for lack of capacity (expert choice: of tokens that no expert picked). */
  readonly dropFraction: Tensor;
}

/**
 * Expert capacity for token choice: `C = ceil(c · k · T / E)` (Fedus et al.
 * 2021, Switch Transformer; Lepikhin et al. 2020, GShard). With a symbolic
 * T the capacity is the dim expression `max(1, ceilDiv(p·k·T, q·E))` for
 * the capacity factor c = p/q, the same value at every T.
 * @example expertCapacity(1.25, 1, 16, 4) // 5
 * @example expertCapacity(1.25, 2, "T", 8) // ceilDiv(T*10,32): 5/4 * 2 * T / 8, rounded up
 */
export function expertCapacity(capacityFactor: number, k: number, numTokens: number, numExperts: number): number;
export function expertCapacity(capacityFactor: number, k: number, numTokens: Dim, numExperts: number): Dim;
export function expertCapacity(capacityFactor: number, k: number, numTokens: Dim, numExperts: number): Dim {
  checkPositive(capacityFactor, "expertCapacity", "capacityFactor");
  checkInt(k, "expertCapacity", "k");
  checkInt(numExperts, "expertCapacity", "numExperts");
  if (typeof numTokens !== "number") {
    const [p, q] = rational(capacityFactor, "expertCapacity");
    return dims.max(1, dims.ceilDiv(dims.mul(p * k, numTokens), q * numExperts));
  }
  checkInt(numTokens, "expertCapacity", "numTokens");
  // The small slack keeps e.g. 1.1 * 10 from rounding up to 12 through float error.
  return Math.max(1, Math.ceil((capacityFactor * k * numTokens) / numExperts - 1e-9));
}

/** Flattens [T, k] assignments choice-major (all first choices, then all second choices, ...). */
function choiceMajor(x: Tensor): Tensor {
  const [T, k] = x.shape as [Dim, Dim];
  return reshape(transpose(x), [dims.mul(T, k)]);
}

/**
 * Plans a token-choice routing. With `capacity` the rows are a fixed E·C
 * buffer and overflow assignments are dropped; without it (dropless) every
 * assignment gets a row.
 * @example const plan = planTokenChoice(topKGate(router, x, { k: 2 }), { capacity: 6 });
 */
export function planTokenChoice(routing: TokenChoice, options: { readonly capacity?: Dim } = {}): DispatchPlan {
  const [T, k] = routing.experts.shape as [Dim, number];
  const E = routing.numExperts;
  const dtype = routing.weights.dtype as FloatDType;
  const slotExpert = choiceMajor(routing.experts);
  const slotToken = tile(iota(T), k);
  const slotWeight = choiceMajor(routing.weights);
  const slotValid = routing.mask ? cast(choiceMajor(routing.mask), "i32") : ones([dims.mul(T, k)], "i32");
  const assigned = mul(oneHot(slotExpert, E, "i32"), expandDims(slotValid, 1)); // [S, E]
  const expertCounts = sum(assigned, 0);
  const validWeight = mul(slotWeight, cast(slotValid, dtype));
  if (options.capacity === undefined) {
    const order = argsort(slotExpert);
    return {
      numTokens: T,
      numExperts: E,
      rowToken: take(slotToken, order),
      rowWeight: take(validWeight, order),
      groups: { sizes: bincount(slotExpert, E), ids: take(slotExpert, order) },
      expertCounts,
      dropFraction: zeros([], dtype),
    };
  }
  const C =
    typeof options.capacity === "number" ? checkInt(options.capacity, "planTokenChoice", "capacity") : options.capacity;
  const EC = dims.mul(E, C);
  const cValue = dimScalar(C); // C as a value on the device (symbolic T: no readback)
  // Rank of each assignment among its expert's assignments: inclusive prefix count - 1.
  const rank = sub(sum(mul(cumsum(assigned, 0), assigned), 1), 1);
  const kept = logicalAnd(greater(slotValid, 0), less(rank, cValue));
  const bufferRow = where(kept, add(mul(slotExpert, cValue), rank), mul(cValue, E)); // row E·C is a sink, cut off below
  const intoBuffer = (values: Tensor, zero: Tensor) => slice(scatterAdd(zero, bufferRow, values), [0], [EC]);
  const keptCount = sum(cast(kept, dtype));
  const validCount = sum(cast(slotValid, dtype));
  return {
    numTokens: T,
    numExperts: E,
    rowToken: intoBuffer(slotToken, zeros([dims.add(EC, 1)], "i32")),
    rowWeight: intoBuffer(validWeight, zeros([dims.add(EC, 1)], dtype)),
    rowValid: intoBuffer(ones([dims.mul(T, k)], dtype), zeros([dims.add(EC, 1)], dtype)),
    groups: uniformGroups(E, C),
    expertCounts,
    dropFraction: div(sub(validCount, keptCount), maximum(validCount, 1)),
  };
}

/**
 * Plans an expert-choice routing: expert e's rows are its c picked tokens.
 * The drop fraction is the fraction of tokens no expert picked.
 * @example const plan = planExpertChoice(expertChoiceGate(router, x, { capacityFactor: 2 }), T);
 */
export function planExpertChoice(routing: ExpertChoice, numTokens: Dim): DispatchPlan {
  const [E, c] = routing.tokens.shape as [number, Dim];
  const dtype = routing.weights.dtype as FloatDType;
  const rowToken = reshape(routing.tokens, [dims.mul(E, c)]);
  const picked = cast(greater(bincount(rowToken, numTokens), 0), dtype);
  return {
    numTokens,
    numExperts: E,
    rowToken,
    rowWeight: reshape(routing.weights, [dims.mul(E, c)]),
    groups: uniformGroups(E, c),
    expertCounts: typeof c === "number" ? full([E], c, "i32") : broadcastTo(dimScalar(c), [E]),
    dropFraction: sub(1, mean(picked)),
  };
}

/** Gathers the expert rows: `x` [T, D] -> [M, D] in expert-group order (empty buffer rows are zero). */
export function dispatchRows(x: Tensor, plan: DispatchPlan): Tensor {
  const rows = take(x, plan.rowToken);
  return plan.rowValid ? mul(rows, expandDims(plan.rowValid, 1)) : rows;
}

/** Weighted scatter-add of expert outputs `y` [M, dOut] back to tokens: [T, dOut]. */
export function combineRows(y: Tensor, plan: DispatchPlan): Tensor {
  const dOut = y.shape[1]!;
  return scatterAdd(zeros([plan.numTokens, dOut], y.dtype), plan.rowToken, mul(y, expandDims(plan.rowWeight, 1)));
}
