/**
 * How a tensor shows itself to users: console.log / util.inspect print its
 * dtype, shape and values (not internals), JSON.stringify gives its data, and
 * traced tensors are refused by JSON.stringify with the reason.
 */
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { spec, tensor, trace, type Tensor } from "../../index";
import { thrown } from "./helpers";

describe("tensor display", () => {
  it("util.inspect (what console.log prints) shows dtype, shape and values", () => {
    const t = tensor([
      [1, 2.5],
      [-3, 4],
    ]);
    expect(inspect(t)).toBe("Tensor<f32[2,2]>[[1,2.5000],[-3,4]]");
    expect(inspect({ weight: t })).toContain("weight: Tensor<f32[2,2]>[[1,2.5000],[-3,4]]");
    expect(inspect(t)).not.toMatch(/_node|NDArray/);
  });

  it("JSON.stringify gives { dtype, shape, data } and refuses traced tensors", () => {
    expect(JSON.parse(JSON.stringify({ w: tensor([1, 2, 3, 4], [2, 2], "i32") }))).toEqual({
      w: { dtype: "i32", shape: [2, 2], data: [1, 2, 3, 4] },
    });
    const e = thrown(() => trace((x: Tensor) => JSON.stringify(x) as unknown as Tensor, spec([3])));
    expect(e.message).toMatch(
      /JSON.stringify: Tensor<f32\[3\]>\(traced .*\) has no host value to serialise \(it is being traced\)/,
    );
  });
});
