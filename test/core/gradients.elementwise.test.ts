/** Gradient properties of the elementwise primitives (cases and run counts: cases/elementwise.ts, docs/GRADIENT-CHECKS.md). */
import { elementwiseCases } from "./cases/elementwise";
import { describeGradCases } from "./helpers";

describeGradCases(elementwiseCases);
