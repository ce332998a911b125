// Reads policies (one per line) on stdin, prints one JSON array of findings per policy on stdout.
"use strict";
const { CspEvaluator } = require("csp_evaluator/dist/evaluator.js");
const { CspParser } = require("csp_evaluator/dist/parser.js");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const results = input.split("\n").filter((line) => line.trim() !== "").map((policy) => {
    const parsed = new CspParser(policy).csp;
    return new CspEvaluator(parsed).evaluate().map((f) => ({
      type: f.type, severity: f.severity, directive: f.directive, value: f.value || null, description: f.description,
    }));
  });
  process.stdout.write(JSON.stringify(results));
});
