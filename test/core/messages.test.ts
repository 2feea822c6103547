/**
 * Clear messages for the mistakes of issue #11 (each used to give an internal
 * error, a wrong op name, or silently wrong values): every test asserts what
 * the message names, and for creation, MoE configuration and cpu run-time
 * errors that it points at the caller's line in this file.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  ShapeError,
  cast,
  full,
  grad,
  jit,
  jvp,
  ones,
  stack,
  sum,
  take,
  tensor,
  zeros,
  type Tensor,
} from "../../index";
import { releaseWebGPU } from "../../backends/webgpu/index";
import { MoeConfigError, expertCapacity } from "../../moe/index";
import { here, thrown } from "./helpers";

const THIS_FILE = fileURLToPath(import.meta.url);

const x23 = tensor([
  [1, 2, 3],
  [4, 5, 6],
]);

describe("clear messages", () => {
  it("cast to an unknown dtype names it and the known ones", () => {
    const e = thrown(() => cast(x23, "bogus" as never));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain('cast: unknown dtype "bogus"; expected one of f32, f64, f16, i32, bool');
  });

  it("grad with a repeated argnum says which argument repeats", () => {
    const e = thrown(() => grad((a: Tensor, b: Tensor) => sum(a.mul(b)), { argnums: [0, 0] })(x23, x23));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toContain("grad: argnums [0, 0] lists argument 0 twice; list each argument once");
  });

  it("stack of different shapes reports as stack, with the shapes as given", () => {
    const e = thrown(() => stack([x23, ones([3, 2])]));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain("stack: tensor 1 has shape [3,2], tensor 0 has [2,3]; stack needs equal shapes");
    expect(thrown(() => stack([x23, "x" as never])).message).toContain("stack: element 1 must be a Tensor, got string");
  });

  it("zeros([NaN]) names NaN; creation errors point at the caller's line", () => {
    const [e, line] = [thrown(() => zeros([NaN])), here()];
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain("zeros: invalid dimension NaN; expected a non-negative integer");
    expect(e.message).toContain(`${THIS_FILE}:${line}:`);
    const [e2, line2] = [thrown(() => tensor([1, 2, 3], [2, 2])), here()];
    expect(e2.message).toContain("tensor: 3 values do not fill shape [2,2]");
    expect(e2.message).toContain(`${THIS_FILE}:${line2}:`);
  });

  it("full with a non-number value fails instead of returning NaNs", () => {
    const e = thrown(() => full([2], "a" as never));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain('full: the fill value must be a number or boolean, got string ("a")');
  });

  it("jvp with a tangent tree that differs from the primals' names both structures", () => {
    const f = (p: { a: Tensor; b: Tensor }) => p.a.mul(p.b);
    const e = thrown(() => jvp(f, [{ a: x23, b: x23 }] as never, [[x23, x23]]));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain('jvp: the tangents have structure [[*,*]], the primals [{"a":*,"b":*}]');
  });

  it("releaseWebGPU() without a tensor says what it expects", () => {
    const e = thrown(() => (releaseWebGPU as (t?: Tensor) => void)());
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain("releaseWebGPU: expected a webgpu tensor");
    expect(e.message).toContain("got undefined");
  });

  it("an op given a JS array says to wrap it with tensor()", () => {
    const e = thrown(() => x23.add([1, 2, 3] as never));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain("add: operand is a JS array; wrap arrays with tensor(), e.g. tensor([1, 2, 3])");
  });

  it("grad of a function returning [value, aux] without hasAux says to pass hasAux", () => {
    const e = thrown(() => grad((a: Tensor) => [sum(a), a])(x23));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain(
      "grad: f returned 2 tensors (f32[], f32[2,3]); grad needs a single scalar. If the rest is auxiliary output, pass { hasAux: true }",
    );
  });

  it("MoeConfigError names the caller's line", () => {
    const [e, line] = [thrown(() => expertCapacity(0, 1, 4, 2)), here()];
    expect(e).toBeInstanceOf(MoeConfigError);
    expect(e.message).toContain(`${THIS_FILE}:${line}:`);
  });

  it("cpu run-time index errors name the call of the jitted function", () => {
    const f = jit((a: Tensor, i: Tensor) => take(a, i, 0), { backend: "cpu" });
    const [e, line] = [thrown(() => f(x23, tensor([0, 7], [2], "i32"))), here()];
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toContain("take: index 7 is out of range for axis 0 of size 2");
    expect(e.message).toContain(`${THIS_FILE}:${line}:`);
  });
});
