/**
 * The meta-pi network (Hampshire & Waibel, "The Meta-Pi network: building
 * distributed knowledge representations for robust multisource pattern
 * recognition", IEEE TPAMI 14(7), 1992): a gate ("meta-pi" unit) mixes the
 * outputs of source-specific expert networks, and the whole is trained on the
 * squared error of the mixed output. Because the error is measured after
 * mixing, experts cooperate (compare the competitive mixture of local experts).
 */
import { mean, softmax, sum, type Tensor } from "../../core";
import { affine, checkGatedExperts, expertBank, type GatedExpertsParams } from "./params";
import { expectShape } from "./validate";

/** Output nonlinearity of each expert: linear, per-unit logistic, or a softmax over the output units. */
export type ExpertActivation = "identity" | "sigmoid" | "softmax";

export interface MetaPiOptions {
  /** Applied to each expert's affine output. Default "identity". */
  expertActivation?: ExpertActivation;
  /** What the gate reads, [N, gateIn]; default x (any per-case features can drive the gate, e.g. the experts' hidden features). */
  gateInput?: Tensor;
}

export interface MetaPiOutput {
  /** The gated sum Σ_i g_i o_i, [N, out]. */
  output: Tensor;
  /** Gate weights g = softmax(gateInput W + b), [N, E]. */
  gates: Tensor;
  /** Each expert's output o_i, [N, E, out]. */
  expertOutputs: Tensor;
}

const ACTIVATIONS: Record<ExpertActivation, (t: Tensor) => Tensor> = {
  identity: (t) => t,
  sigmoid: (t) => t.sigmoid(),
  softmax: (t) => softmax(t, -1),
};

function activation(name: ExpertActivation | undefined, fn: string): (t: Tensor) => Tensor {
  const f = ACTIVATIONS[name ?? "identity"];
  if (!f)
    throw new Error(
      `${fn}: unknown expertActivation ${JSON.stringify(name)}; expected one of ${Object.keys(ACTIVATIONS).join(", ")}`,
    );
  return f;
}

/**
 * Meta-pi forward pass: y = Σ_i g_i(x) o_i(x) with g = softmax(x_g W_g + b_g)
 * and o_i = act(x W_i + b_i).
 * @param params `{ gate: {w [Dg, E], b [E]}, experts: {w [E, D, O], b [E, O]} }`
 * @param x [N, D]
 * @example
 * const p = initGatedExperts(random.key(0), { inputDim: 8, outputDim: 3, experts: 6 });
 * const { output, gates } = metaPi(p, x, { expertActivation: "softmax" });
 */
export function metaPi(params: GatedExpertsParams, x: Tensor, options: MetaPiOptions = {}): MetaPiOutput {
  const gateX = options.gateInput ?? x;
  checkGatedExperts(params, x, "metaPi", gateX);
  const act = activation(options.expertActivation, "metaPi");
  const gates = softmax(affine(params.gate, gateX), -1);
  const expertOutputs = act(expertBank(params.experts, x));
  const output = sum(expertOutputs.mul(gates.expandDims(-1)), 1);
  return { output, gates, expertOutputs };
}

/**
 * Meta-pi training loss: the mean squared error of the gated sum,
 * mean_{n,o} (y[n,o] - Σ_i g_i o_i[n,o])^2.
 * @param y targets [N, O] (one-hot class targets for classification, as in the paper)
 * @example const loss = metaPiLoss(p, x, oneHot(labels, 3), { expertActivation: "softmax" });
 */
export function metaPiLoss(params: GatedExpertsParams, x: Tensor, y: Tensor, options: MetaPiOptions = {}): Tensor {
  const { output } = metaPi(params, x, options);
  expectShape("metaPiLoss", "y", y, output.shape);
  return mean(y.sub(output).square());
}
