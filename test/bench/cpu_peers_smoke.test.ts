/**
 * Smoke test of `npm run bench`'s peer-layer functions on a tiny layer: the
 * moeforge implementations on the js and wasm targets compute the same loss
 * and gradients (the agreement check the benchmark prints), and the layer's
 * loss is the interpreter's. The peers themselves (jax-js, TensorFlow.js) live
 * in bench/node_modules and are exercised by the benchmark only.
 */
import { describe, expect, it } from "vitest";
import "../../codegen/index";
import { checkAgreement } from "../../bench/cpu_peers";
import { moeforgeImpl, moeforgePrograms, peerInputs } from "../../bench/peer_layer";
import { NDArray } from "../../dsl/ndarray";
import { Tensor } from "../../dsl/tensor";
import { evalProgram } from "../../dsl/trace";

const cfg = { T: 16, D: 8, H: 12, E: 4, K: 2 };

describe("bench peer layer (tiny)", () => {
  it("js and wasm targets agree on the loss and all four gradients", async () => {
    const inputs = peerInputs(cfg);
    const [js, wasm] = await checkAgreement([moeforgeImpl(cfg, inputs, "js"), moeforgeImpl(cfg, inputs, "wasm")]);
    expect(js!.grads).toBe(0);
    expect(wasm!.fwd).toBeLessThan(1e-6);
    expect(wasm!.bwd).toBeLessThan(1e-6);
    expect(wasm!.grads).toBeLessThan(1e-5);
  });

  it("the compiled loss is the interpreter's", async () => {
    const inputs = peerInputs(cfg);
    const { loss } = moeforgePrograms(cfg);
    const shapes = loss.inputs.map((v) => v.shape as number[]);
    const tensors = [inputs.x, inputs.router, inputs.w1, inputs.w2].map((a, i) =>
      Tensor._concrete(new NDArray("f32", shapes[i]!, a)),
    );
    const want = evalProgram(loss, tensors)[0]!._value().data[0]!;
    const got = (await moeforgeImpl(cfg, inputs, "wasm").forward()).loss;
    expect(Math.abs(got - want) / Math.abs(want)).toBeLessThan(1e-6);
  });
});
