/**
 * The adaptive mixture of local experts (Jacobs, Jordan, Nowlan & Hinton
 * 1991): a softmax gate over linear experts, trained on the negative
 * log-likelihood of the Gaussian mixture (`moe.localExpertsLoss`). The export
 * returns the mixture's prediction and the loss, so both the forward and the
 * backward of the training objective are generated.
 *
 *   moeforge compile examples/local_experts.ts --export localExperts --dims T=dynamic,D=8,O=4,E=4 --target wgsl,cuda --grad --out out/local
 */
import { moe, type Tensor } from "moeforge";

export const localExpertsInputs = {
  params: { gate: { w: ["D", "E"], b: ["E"] }, experts: { w: ["E", "D", "O"], b: ["E", "O"] } },
  x: ["T", "D"],
  y: ["T", "O"],
};

/** (params, x [T, D], y [T, O]) -> { prediction [T, O], loss [] }. */
export function localExperts(
  params: moe.GatedExpertsParams,
  x: Tensor,
  y: Tensor,
): { prediction: Tensor; loss: Tensor } {
  return { prediction: moe.localExperts(params, x).output, loss: moe.localExpertsLoss(params, x, y) };
}
