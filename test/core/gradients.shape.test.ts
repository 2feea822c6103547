/** Gradient properties of the shape cases (cases and run counts: cases/shape.ts, docs/GRADIENT-CHECKS.md). */
import { shapeCases } from "./cases/shape";
import { describeGradCases } from "./helpers";

describeGradCases(shapeCases);
