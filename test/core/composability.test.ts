/**
 * Transforms compose: grad of grad, jvp of grad, grad of jit, jit of grad,
 * nested closures (no perturbation confusion), vjp over pytrees, valueAndGrad
 * with aux, customVjp inside grad, hessianVectorProduct, Programs in and out
 * (vjpProgram/jvpProgram), and checkGrads catching a wrong custom rule.
 * References are closed forms or central finite differences (helpers.ts).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Program,
  abs,
  checkGrads,
  cos,
  customVjp,
  exp,
  getBackend,
  grad,
  hessianVectorProduct,
  jit,
  jvp,
  jvpProgram,
  lessEqual,
  matmul,
  mul,
  reshape,
  sign,
  sin,
  spec,
  sum,
  tanh,
  trace,
  valueAndGrad,
  vjp,
  vjpProgram,
  where,
  type Tensor,
} from "../../index";
import {
  expectAllClose,
  f64,
  numericDirectional,
  numericGradient,
  randomLike,
  rng,
  shapeArb,
  tensorArb,
  thrown,
  values,
  FD_TOL,
} from "./helpers";

const RUNS = 20;
const vecArb = shapeArb(1, 2).chain((s) => tensorArb(s));

/**
 * f(x) = sum(sin(x) x^2): f' = x^2 cos x + 2x sin x, f'' = (2 - x^2) sin x + 4x cos x (the Hessian is diagonal),
 * f''' = (6 - x^2) cos x - 6x sin x.
 */
const f = (x: Tensor) => sum(mul(sin(x), mul(x, x)));
const d1 = (x: number) => Math.cos(x) * x * x + 2 * x * Math.sin(x);
const d2 = (x: number) => (2 - x * x) * Math.sin(x) + 4 * x * Math.cos(x);
const d3 = (x: number) => -6 * x * Math.sin(x) + (6 - x * x) * Math.cos(x);

describe("higher order", () => {
  it(`grad of grad and grad of grad of grad match closed forms (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(vecArb, (x) => {
        const xs = values(x);
        const g1 = grad(f)(x) as Tensor;
        const g2 = grad((t: Tensor) => sum(grad(f)(t) as Tensor))(x) as Tensor;
        const g3 = grad((t: Tensor) => sum(grad((s: Tensor) => sum(grad(f)(s) as Tensor))(t) as Tensor))(x) as Tensor;
        expectAllClose(values(g1), xs.map(d1), 1e-12, "f'");
        expectAllClose(values(g2), xs.map(d2), 1e-12, "f''");
        expectAllClose(values(g3), xs.map(d3), 1e-11, "f'''");
      }),
      { numRuns: RUNS },
    );
  });

  it(`jvp of grad and hessianVectorProduct equal H v (closed form and finite differences of grad) (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(vecArb, fc.nat(), (x, seed) => {
        const v = randomLike(x, rng(seed));
        const want = values(x).map((xi, i) => d2(xi) * values(v)[i]!);
        const [, hv] = jvp(grad(f), [x], [v]);
        expectAllClose(values(hv as Tensor), want, 1e-12, "jvp of grad");
        expectAllClose(values(hessianVectorProduct(f)(x, v) as Tensor), want, 1e-12, "hessianVectorProduct");
        // A non-diagonal Hessian: g(x) = (sum_ij tanh(x_i x_j))^2 couples every pair of entries.
        const g = (t: Tensor) => {
          const flat = reshape(t, [-1]);
          return sum(tanh(matmul(flat.expandDims(1), flat.expandDims(0)))).square();
        };
        const fd = numericDirectional((xs) => [grad(g)(xs[0]!) as Tensor], [x], [v])[0]!;
        expectAllClose(
          values(hessianVectorProduct(g)(x, v) as Tensor),
          fd,
          FD_TOL,
          "hessianVectorProduct vs finite differences of grad",
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("nested grads with closures do not confuse perturbations: d/dx [x * d/dy (x + y)] = 1", () => {
    const x = f64([1.7], []);
    const y = f64([0.3], []);
    const outer = grad((a: Tensor) => mul(a, grad((b: Tensor) => a.add(b))(y) as Tensor))(x) as Tensor;
    expect(outer.item()).toBe(1);
    // d/dx [d/dy (x * y)] at any y = 1, and d/dx [x * d/dy (x * y)] = 2x.
    const inner = (a: Tensor) => grad((b: Tensor) => mul(a, b))(y) as Tensor;
    expect((grad(inner)(x) as Tensor).item()).toBe(1);
    expect((grad((a: Tensor) => mul(a, inner(a)))(x) as Tensor).item()).toBeCloseTo(2 * 1.7, 14);
  });
});

describe("jit composes with grad", () => {
  it(`grad of jit, jit of grad and jit of grad of jit agree with grad (${RUNS} runs)`, () => {
    const jf = jit(f);
    const jg = jit(grad(f));
    const jgj = jit(grad(jit(f)));
    fc.assert(
      fc.property(vecArb, (x) => {
        const want = values(grad(f)(x) as Tensor);
        expectAllClose(values(grad(jf)(x) as Tensor), want, 1e-14, "grad(jit(f))");
        expectAllClose(values(jg(x) as Tensor), want, 1e-14, "jit(grad(f))");
        expectAllClose(values(jgj(x) as Tensor), want, 1e-14, "jit(grad(jit(f)))");
      }),
      { numRuns: RUNS },
    );
    // jit traces once per input signature.
    const fresh = jit(grad(f));
    const x = f64([0.1, 0.2], [2]);
    fresh(x);
    fresh(f64([0.5, -0.2], [2]));
    expect(fresh.cacheSize).toBe(1);
    fresh(f64([0.5, -0.2, 1], [3]));
    expect(fresh.cacheSize).toBe(2);
    // The jitted gradient's program is an ordinary Program that contains the backward pass.
    const p = fresh.program(x);
    expect(p).toBeInstanceOf(Program);
    expect(p.eqns.map((e) => e.prim)).toContain("cos");
  });
});

describe("pytrees", () => {
  type Params = { w: Tensor; b: [Tensor, Tensor] };
  const model = (p: Params, x: Tensor) => ({ y: tanh(matmul(x, p.w)).add(p.b[0]), z: [mul(sum(x), p.b[1])] });
  const paramsArb = fc
    .tuple(tensorArb([3, 2]), tensorArb([2]), tensorArb([]), tensorArb([4, 3]))
    .map(([w, b0, b1, x]) => ({ params: { w, b: [b0, b1] as [Tensor, Tensor] }, x }));

  it(`vjp's pullback takes and returns pytrees; it equals grad of <ct, f> (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(paramsArb, fc.nat(), ({ params, x }, seed) => {
        const rand = rng(seed);
        const [out, pullback] = vjp(model, params, x);
        const ct = { y: randomLike(out.y, rand), z: [randomLike(out.z[0], rand)] };
        const [dp, dx] = pullback(ct) as [Params, Tensor];
        expect(Object.keys(dp)).toEqual(["w", "b"]);
        expect(dp.b).toHaveLength(2);
        const inner = (p: Params, xx: Tensor) => {
          const o = model(p, xx);
          return sum(mul(o.y, ct.y)).add(sum(mul(o.z[0]!, ct.z[0]!)));
        };
        const [gp, gx] = grad(inner, { argnums: [0, 1] })(params, x) as [Params, Tensor];
        expectAllClose(values(dp.w), values(gp.w), 1e-14, "dw");
        expectAllClose(values(dp.b[0]), values(gp.b[0]), 1e-14, "db0");
        expectAllClose(values(dp.b[1]), values(gp.b[1]), 1e-14, "db1");
        expectAllClose(values(dx), values(gx), 1e-14, "dx");
        // and grad itself matches finite differences of the flattened parameters
        const fd = numericGradient(
          ([w, b0, b1]) => inner({ w: w!, b: [b0!, b1!] }, x).item(),
          [params.w, params.b[0], params.b[1]],
        );
        expectAllClose(values(gp.w), fd[0]!, FD_TOL, "dw vs finite differences");
      }),
      { numRuns: RUNS },
    );
  });

  it("valueAndGrad with hasAux returns [[loss, aux], grads] and grad with hasAux returns [grads, aux]", () => {
    const params = {
      w: f64([0.5, -1, 2, 0.25, 1, -0.5], [3, 2]),
      b: [f64([0.1, 0.2], [2]), f64([3], [])] as [Tensor, Tensor],
    };
    const x = f64([1, 2, 3, -1, 0, 1], [2, 3]);
    const lossWithAux = (p: Params, xx: Tensor) => {
      const o = model(p, xx);
      const loss = sum(mul(o.y, o.y));
      return [loss, { pred: o.y, count: [sum(xx)] }] as const;
    };
    // Typed: [[loss, aux], grads] with aux's and the params' own types.
    const [[loss, aux], g] = valueAndGrad(lossWithAux, { hasAux: true })(params, x);
    const plain = (p: Params, xx: Tensor) => lossWithAux(p, xx)[0];
    expect(loss.item()).toBeCloseTo(plain(params, x).item(), 14);
    expectAllClose(values(aux.pred), values(model(params, x).y), 0, "aux.pred");
    expect(aux.count[0]!.item()).toBe(6);
    expectAllClose(
      values(g.w),
      values((grad(plain)(params, x) as Params).w),
      1e-15,
      "grad with aux equals grad without",
    );
    const [g2, aux2] = grad(lossWithAux, { hasAux: true })(params, x) as [Params, { pred: Tensor }];
    expectAllClose(values(g2.b[0]), values(g.b[0]), 0, "grad(hasAux) grads");
    expectAllClose(values(aux2.pred), values(aux.pred), 0, "grad(hasAux) aux");
  });
});

describe("customVjp inside grad", () => {
  // Binarisation with the straight-through estimator (Bengio et al. 2013; hardtanh variant):
  // forward sign(x), backward ct * 1[|x| <= 1].
  const binarize = customVjp(
    (x: Tensor) => sign(x),
    (x: Tensor) => [sign(x), x],
    (x: Tensor, ct: Tensor) => [where(lessEqual(abs(x), 1), ct, 0)],
  );

  it(`the straight-through estimator passes gradients through sign where |x| <= 1 (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(vecArb, fc.nat(), (x, seed) => {
        const u = randomLike(x, rng(seed));
        const xs = values(x);
        const us = values(u);
        // Inside a larger function: d/dx sum(u * exp(binarize(x)) * x) by the chain rule with the STE.
        const g = grad((t: Tensor) => sum(mul(mul(u, exp(binarize(t))), t)))(x) as Tensor;
        const want = xs.map((xi, i) => {
          const s = Math.sign(xi);
          const outer = us[i]! * Math.exp(s);
          return outer + (Math.abs(xi) <= 1 ? outer * xi : 0);
        });
        expectAllClose(values(g), want, 1e-13, "grad through the STE");
        // grad of jit of the custom function: same rule.
        const gj = grad(jit((t: Tensor) => sum(mul(binarize(t), u))))(x) as Tensor;
        expectAllClose(
          values(gj),
          xs.map((xi, i) => (Math.abs(xi) <= 1 ? us[i]! : 0)),
          0,
          "grad of jit through the STE",
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("grad of grad through a customVjp differentiates the user's bwd", () => {
    // value x^3 / 3, rule: ct * x^2 (correct); second derivative through bwd: 2x.
    const cube3 = customVjp(
      (x: Tensor) => mul(mul(x, x), x).div(3),
      (x: Tensor) => [mul(mul(x, x), x).div(3), x],
      (x: Tensor, ct: Tensor) => [mul(ct, mul(x, x))],
    );
    const x = f64([0.5, -1.5, 2], [3]);
    const gg = grad((t: Tensor) => sum(grad((s: Tensor) => sum(cube3(s)))(t) as Tensor))(x) as Tensor;
    expectAllClose(values(gg), [1, -3, 4], 1e-15, "d2/dx2 x^3/3");
  });
});

describe("customVjp closing over traced values", () => {
  const x = f64([1, 2, 3], [3]);
  const w = f64([2], []);

  it("its fwd/bwd may use a closed-over argument that is not differentiated (the value it has in this call)", () => {
    const scaled = (a: Tensor, s: Tensor) =>
      customVjp(
        (t: Tensor) => t.mul(s),
        (t: Tensor) => [t.mul(s), null],
        (_r: unknown, ct: Tensor) => [ct.mul(s)],
      )(a);
    const g = grad((a: Tensor, s: Tensor) => sum(scaled(a, s)))(x, w) as Tensor;
    expect(Array.from(values(g))).toEqual([2, 2, 2]);
    // also under jit, where the closed-over value is a jit argument
    const gj = jit((a: Tensor, s: Tensor) => grad((t: Tensor) => sum(scaled(t, s)))(a))(x, f64([-3], []));
    expect(Array.from(values(gj as Tensor))).toEqual([-3, -3, -3]);
  });

  it("differentiating with respect to a closed-over value is an error, not a silently zero gradient", () => {
    const e = thrown(() =>
      grad((s: Tensor) =>
        sum(
          customVjp(
            (t: Tensor) => t.mul(s),
            (t: Tensor) => [t.mul(s), null],
            (_r: unknown, ct: Tensor) => [ct.mul(2)],
          )(x),
        ),
      )(w),
    );
    expect(e.message).toContain(
      'customVjp "anonymous": differentiating with respect to a value the function closes over (f64[])',
    );
    expect(e.message).toContain("Pass that value as an argument of the customVjp function");
  });
});

describe("Programs in, Programs out", () => {
  const loss = (x: Tensor, w: Tensor) => sum(tanh(matmul(x, w)));

  it("vjpProgram and jvpProgram return Programs with readable listings that compute vjp and jvp", () => {
    const p = trace(loss, spec(["T", 3], "f64"), spec([3, 2], "f64"));
    const back = vjpProgram(p);
    const fwd = jvpProgram(p);
    for (const q of [back, fwd]) {
      expect(q).toBeInstanceOf(Program);
      const text = q.toString();
      const lines = text.split("\n");
      expect(lines[0]).toMatch(/^program\(%\d+:f64\[T,3\], %\d+:f64\[3,2\], /);
      expect(lines.at(-1)).toBe("}");
      expect(lines.at(-2)).toMatch(/^ {2}return %\d+(, %\d+)*$/);
      // One equation a line: "%id:dtype[shape] = prim{params} %in ..."
      for (const l of lines.slice(1, -2))
        expect(l).toMatch(/^ {2}%\d+:(f64|f32|i32|bool)\[[^\]]*\] = (const .+|[a-zA-Z]+(\{[^}]*\})?( %\d+)*)$/);
    }
    expect(back.inputs).toHaveLength(3); // x, w, d loss
    expect(back.outputs).toHaveLength(3); // loss, dx, dw
    expect(fwd.inputs).toHaveLength(4); // x, w, tx, tw
    expect(fwd.outputs).toHaveLength(2); // loss, d loss
    expect(back.toString()).toContain("matmul");
    expect(back.toString()).toContain("f64[T,2]");

    const x = f64([0.1, -0.3, 0.5, 1, 2, -1], [2, 3]);
    const w = f64([0.2, 0.4, -0.6, 0.8, 1, -1.2], [3, 2]);
    const interp = getBackend("interp");
    const [, dx, dw] = interp.run(back, [x, w, f64([1], [])]);
    const [gx, gw] = grad(loss, { argnums: [0, 1] })(x, w) as [Tensor, Tensor];
    expectAllClose(values(dx!), values(gx), 1e-15, "vjpProgram dx");
    expectAllClose(values(dw!), values(gw), 1e-15, "vjpProgram dw");
    const tx = f64([1, 0, 0, 0, 0, 0], [2, 3]);
    const tw = f64([0, 0, 0, 0, 0, 1], [3, 2]);
    const [, dl] = interp.run(fwd, [x, w, tx, tw]);
    expect(dl!.item()).toBeCloseTo(values(gx)[0]! + values(gw)[5]!, 14);
  });

  it("the gradient of a gradient Program is again a Program (second order by program transformation)", () => {
    const p = trace((x: Tensor) => sum(mul(sin(x), x)), spec([3], "f64"));
    const back = vjpProgram(p); // (x, ct) -> (y, dx)
    const hess = vjpProgram(back); // (x, ct, ct_y, ct_dx) -> (y, dx, d x, d ct)
    expect(hess).toBeInstanceOf(Program);
    const x = f64([0.3, -1, 2], [3]);
    const v = f64([1, 2, -1], [3]);
    const res = getBackend("interp").run(hess, [x, f64([1], []), f64([0], []), v]);
    // d/dx <v, f'(x)> = f''(x) v with f'' = 2 cos x - x sin x (diagonal).
    expectAllClose(
      values(res[2]!),
      values(x).map((xi, i) => (2 * Math.cos(xi) - xi * Math.sin(xi)) * values(v)[i]!),
      1e-14,
      "H v",
    );
  });
});

describe("checkGrads", () => {
  const x = f64([0.3, -0.8, 1.1], [3]);

  it("passes on correct derivatives, including second order", () => {
    checkGrads((t: Tensor) => sum(mul(sin(t), exp(t))), [x], { order: 2 });
    checkGrads(
      (a: Tensor, b: Tensor) => tanh(matmul(a, b)),
      [f64([1, 2, 3, 4], [2, 2]), f64([0.5, -0.5, 0.25, 1], [2, 2])],
      { order: 2 },
    );
  });

  it("throws on a customVjp whose bwd is wrong, and accepts the corrected rule", () => {
    const wrongSin = customVjp(
      (t: Tensor) => sin(t),
      (t: Tensor) => [sin(t), t],
      (t: Tensor, ct: Tensor) => [mul(ct, sin(t))], // wrong: should be cos(t)
    );
    const e = thrown(() => checkGrads((t: Tensor) => wrongSin(t), [x], { modes: ["rev"] }));
    expect(e.message).toMatch(
      /^checkGrads: vjp vs finite differences \(direction 0\): got .+, expected .+ \(\|diff\| /,
    );
    const rightSin = customVjp(
      (t: Tensor) => sin(t),
      (t: Tensor) => [sin(t), t],
      (t: Tensor, ct: Tensor) => [mul(ct, cos(t))],
    );
    checkGrads((t: Tensor) => rightSin(t), [x], { modes: ["rev"] });
    // A rule that is off by only 1% is caught too.
    const almost = customVjp(
      (t: Tensor) => sin(t),
      (t: Tensor) => [sin(t), t],
      (t: Tensor, ct: Tensor) => [mul(ct, mul(cos(t), 1.01))],
    );
    expect(() => checkGrads((t: Tensor) => almost(t), [x], { modes: ["rev"] })).toThrow(/vjp vs finite differences/);
  });
});
