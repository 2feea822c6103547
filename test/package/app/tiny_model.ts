// A user's model file for the packaged CLI check: it imports the installed "moeforge".
import { matmul, relu, type Tensor } from "moeforge";

export const layerInputs = { w: ["D", "H"], x: ["T", "D"] };

export function layer(w: Tensor, x: Tensor): Tensor {
  return relu(matmul(x, w));
}
