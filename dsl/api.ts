import { assertDType, type DType } from "./dtype";
import { Program, type Aval } from "./program";
import { flatten, unflatten, type TreeDef } from "./pytree";
import { checkDim, shapeToString, type Dim, type Shape } from "./shape";
import { Tensor } from "./tensor";
import { traceFlat } from "./trace";

/** An input description for `trace`: a shape (named dims stay symbolic) and a dtype. */
export class Spec<S extends Shape = Shape, D extends DType = DType> implements Aval {
  constructor(
    readonly shape: S,
    readonly dtype: D,
  ) {}
  toString(): string {
    return `${this.dtype}${shapeToString(this.shape)}`;
  }
}

/** Describes a traced input. @example spec(["T", 256]) */
export function spec<const S extends readonly Dim[], D extends DType = "f32">(
  shape: S,
  dtype: D = "f32" as D,
): Spec<S, D> {
  if (!Array.isArray(shape)) throw new TypeError(`spec: shape must be an array of dims, got ${JSON.stringify(shape)}`);
  return new Spec(shape.map((d) => checkDim(d, "spec")) as unknown as S, assertDType(dtype, "spec") as D);
}

/**
 * Traces `fn` into a Program, with the shapes and dtypes of `specs` (pytrees of
 * Spec or Tensor; tensors stand for their shape and dtype).
 * @example
 * const p = trace((x, w) => x.matmul(w).relu(), spec(["T", 4]), spec([4, 8]));
 * console.log(p.toString());
 */
export function trace(fn: (...args: never[]) => unknown, ...specs: unknown[]): Program {
  const isLeaf = (x: unknown) => x instanceof Spec || x instanceof Tensor;
  const [leaves, inTree] = flatten<Aval>(specs, isLeaf, "specs");
  const { program, captures } = traceFlatTree(fn, leaves, inTree);
  if (captures.length)
    throw new Error("trace: the function closes over values of an enclosing trace; pass them as arguments instead");
  return program;
}

/** Traces a function of pytrees over flat avals; records both tree structures on the Program. */
export function traceFlatTree(
  fn: (...args: never[]) => unknown,
  avals: readonly Aval[],
  inTree: TreeDef,
): { program: Program; captures: Tensor[] } {
  let outTree: TreeDef | undefined;
  const { program, captures } = traceFlat((...ins) => {
    const args = unflatten(inTree, ins) as never[];
    const [outs, def] = flatten<Tensor>((fn as (...a: never[]) => unknown)(...args), undefined, "result");
    outTree = def;
    return outs;
  }, avals);
  const withTrees = new Program(program.inputs, program.consts, program.eqns, program.outputs, inTree, outTree);
  return { program: withTrees, captures };
}
