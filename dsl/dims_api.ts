/**
 * Arithmetic on dims, for shapes that depend on named sizes (`moeforge.dims`).
 * Every result is normalised, so equal expressions are equal (`===`) and print
 * one way; a dim that folds to a constant is a plain number.
 *
 * @example
 * trace((x: Tensor) => reshape(x, [-1]), spec(["T", 64]));                   // out: f32[T*64]
 * trace((x: Tensor) => reshape(x, [dims.mul(x.shape[0], 2), -1]), spec(["T", 64])); // out: f32[T*2,32]
 * dims.ceilDiv(dims.mul(5, "k", "T"), dims.mul(4, "E")); // a capacity: ceilDiv(T*k*5,E*4)
 * dims.evaluate(dims.mul("T", 2), new Map([["T", 7]])); // 14
 */
export {
  dimAdd as add,
  dimSub as sub,
  dimMul as mul,
  dimFloorDiv as floorDiv,
  dimCeilDiv as ceilDiv,
  dimMod as mod,
  dimMax as max,
  dimMin as min,
  dimEq as equal,
  provablyGe as provablyAtLeast,
  dimBounds as bounds,
  dimNames as names,
  dimToString as format,
  evalDim as evaluate,
  substituteDim as substitute,
  normDim as normalize,
  isDim,
  type Dim,
  type DimExpr,
  type DimBounds,
  type DimEnv,
} from "./dims";
