/**
 * Type-level shape arithmetic. Best effort but real: where shapes are literal
 * tuples, `tsc` rejects mismatched matmul inner dims, non-broadcastable
 * elementwise operands and reshapes that change the element count. Where a
 * shape is not statically known (`Shape`), checks happen at trace time.
 */
import type { Dim, Shape } from "./shape";

/** Is T a tuple of statically known length? */
type IsTuple<T extends Shape> = number extends T["length"] ? false : true;

/** Broadcast of two dims; `never` when both are distinct literals. */
export type BroadcastDim<A extends Dim, B extends Dim> = A extends 1
  ? B
  : B extends 1
    ? A
    : number extends A
      ? B
      : number extends B
        ? A
        : string extends A
          ? B
          : string extends B
            ? A
            : [A] extends [B]
              ? A
              : never;

type BroadcastRev<A extends Shape, B extends Shape> = A extends readonly [...infer AR extends Dim[], infer a extends Dim]
  ? B extends readonly [...infer BR extends Dim[], infer b extends Dim]
    ? [...BroadcastRev<AR, BR>, BroadcastDim<a, b>]
    : A
  : B;

type HasNever<T extends readonly unknown[]> = T extends readonly [infer H, ...infer R] ? ([H] extends [never] ? true : HasNever<R>) : false;

/** The numpy broadcast of two shapes, or `never` if literal dims clash. */
export type Broadcast<A extends Shape, B extends Shape> =
  IsTuple<A> extends true
    ? IsTuple<B> extends true
      ? HasNever<BroadcastRev<A, B>> extends true
        ? never
        : BroadcastRev<A, B>
      : Shape
    : Shape;

/** Error marker types: they show up in tsc's message. */
export interface ShapeMismatch<Msg extends string, A, B> {
  readonly __shapeError: Msg;
  readonly left: A;
  readonly right: B;
}

/** `unknown` when A and B broadcast, otherwise a readable error type. */
export type CheckBroadcast<A extends Shape, B extends Shape> = [Broadcast<A, B>] extends [never]
  ? ShapeMismatch<"shapes do not broadcast", A, B>
  : unknown;

type Last<S extends Shape> = S extends readonly [...Dim[], infer L extends Dim] ? L : Dim;
type SecondLast<S extends Shape> = S extends readonly [...Dim[], infer L extends Dim, Dim] ? L : Dim;
type Batch<S extends Shape> = S extends readonly [...infer B extends Dim[], Dim, Dim] ? B : Shape;

type DimsAgree<A extends Dim, B extends Dim> = number extends A ? true : number extends B ? true : string extends A ? true : string extends B ? true : [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** `unknown` when a @ b's inner dims agree (or are not statically known). */
export type CheckMatmul<A extends Shape, B extends Shape> =
  IsTuple<A> extends true
    ? IsTuple<B> extends true
      ? A["length"] extends 0
        ? ShapeMismatch<"matmul needs rank >= 1", A, B>
        : DimsAgree<Last<A>, B["length"] extends 1 ? B[0] & Dim : SecondLast<B>> extends true
          ? unknown
          : ShapeMismatch<"matmul inner dims differ", A, B>
      : unknown
    : unknown;

/** Result shape of matmul for matrices and batched matrices (rank >= 2 both). */
export type MatmulShape<A extends Shape, B extends Shape> =
  IsTuple<A> extends true
    ? IsTuple<B> extends true
      ? A extends readonly [Dim, Dim, ...Dim[]]
        ? B extends readonly [Dim, Dim, ...Dim[]]
          ? [...(Broadcast<Batch<A>, Batch<B>> & Dim[]), SecondLast<A>, Last<B>]
          : Shape
        : Shape
      : Shape
    : Shape;

type Product<S extends readonly number[], Acc extends unknown[] = [unknown]> = S extends readonly [infer H extends number, ...infer R extends number[]]
  ? Product<R, Times<Acc, H>>
  : Acc["length"];
type Repeat<N extends number, A extends unknown[] = []> = A["length"] extends N ? A : Repeat<N, [...A, unknown]>;
type Times<Acc extends unknown[], N extends number, Out extends unknown[] = [], I extends unknown[] = []> = I["length"] extends N
  ? Out
  : Times<Acc, N, [...Out, ...Acc], [...I, unknown]>;

type AllSmallLiterals<S extends Shape> = S extends readonly [infer H, ...infer R extends Shape]
  ? H extends number
    ? number extends H
      ? false
      : H extends 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 | 16
        ? AllSmallLiterals<R>
        : false
    : false
  : IsTuple<S>;

/** Static element count of small literal shapes (number when unknown). */
export type NumelOf<S extends Shape> = AllSmallLiterals<S> extends true ? Product<S & readonly number[]> : number;

/** `unknown` when a reshape keeps the element count (or it is not statically known). */
export type CheckReshape<From extends Shape, To extends Shape> =
  NumelOf<From> extends infer A extends number
    ? NumelOf<To> extends infer B extends number
      ? number extends A
        ? unknown
        : number extends B
          ? unknown
          : A extends B
            ? unknown
            : ShapeMismatch<"reshape changes the element count", From, To>
      : unknown
    : unknown;

export type { Repeat };
