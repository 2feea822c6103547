/**
 * The README's first MoE example (examples/first_moe.ts) runs as shown: a jitted
 * top-2 SwiGLU MoE layer trained with AdamW lowers its loss.
 */
import { describe, expect, it } from "vitest";
import { trainFirstMoe } from "../../examples/first_moe";

describe("the README's first MoE example", () => {
  it("trains: the jitted step (moeLayer + swigluExperts + adamW) lowers the loss", () => {
    const losses = trainFirstMoe(25);
    expect(losses).toHaveLength(25);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[24]!).toBeLessThan(0.7 * losses[0]!);
  });
});
