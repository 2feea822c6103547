/** Gradient properties of the composite cases (cases and run counts: cases/composite.ts, docs/GRADIENT-CHECKS.md). */
import { compositeCases } from "./cases/composite";
import { describeGradCases } from "./helpers";

describeGradCases(compositeCases);
