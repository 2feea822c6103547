/**
 * Bindings every runtime must reject, with what each error must say: T = 0
 * where T >= 1, a name bound to two sizes, an expression dim of another size,
 * an expression (T*T*T) past 2^31 - 1 elements at the bound T (see
 * test/codegen/bind_errors.test.ts and test/webgpu/bind_errors.test.ts).
 */
import { add, broadcastTo, dims, reshape, spec, trace, zeros, type Tensor } from "../../index";

/** The cases every runtime must reject, with what each error must say. */
export const BAD_BINDINGS = (() => {
  const flatPlusY = trace((x: Tensor, y: Tensor) => add(reshape(x, [-1]), y), spec(["T", 2]), spec([dims.mul(2, "T")]));
  const cube = trace((x: Tensor) => broadcastTo(reshape(x, ["T", 1, 1]), ["T", "T", "T"]).mul(2), spec(["T"]));
  const twoTs = trace((a: Tensor, b: Tensor) => add(a, b), spec(["T", 3]), spec(["T", 3]));
  return [
    {
      name: "T = 0 violates T >= 1",
      program: flatPlusY,
      inputs: () => [zeros([0, 2]), zeros([0])],
      message: /named dim "T" is bound to 0 \(input 0, dim 0\); it violates T >= 1, .*\(input 0 is read by reshape\)/,
    },
    {
      name: "T bound to two sizes",
      program: twoTs,
      inputs: () => [zeros([2, 3]), zeros([3, 3])],
      message: new RegExp(
        /named dim "T" is bound to 2 \(input 0, dim 0\) and to 3 \(input 1, dim 0\); a named dim must have one size /
          .source + /\(input 0 is read by add; input 1 is read by add\)/.source,
      ),
    },
    {
      name: "an input of the expression dim T*2 with another size",
      program: flatPlusY,
      inputs: () => [zeros([2, 2]), zeros([3])],
      message: /input 1, dim 0 has size 3, expected T\*2 = 4 \(T = 2\)/,
    },
    {
      name: "T^3 elements overflow i32 at T = 1300",
      program: cube,
      inputs: () => [zeros([1300])],
      message: /with T = 1300, .*broadcastTo.*\b2197000000\b.*more than the 2\^31 - 1/,
    },
  ];
})();
