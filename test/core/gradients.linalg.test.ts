/** Gradient properties of the linalg cases (cases and run counts: cases/linalg.ts, docs/GRADIENT-CHECKS.md). */
import { linalgCases } from "./cases/linalg";
import { describeGradCases } from "./helpers";

describeGradCases(linalgCases);
