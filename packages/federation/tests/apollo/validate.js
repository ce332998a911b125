// Reads a JSON array of SDL strings on stdin and prints, for each, Apollo Federation's verdict on it as
// one subgraph: {"valid": bool, "errors": [{"code": ..., "message": ...}]}.
//
// A Federation 2 schema (one that @links the federation spec) is built and validated as it is. A
// Federation 1 schema goes through the same path composition takes: it is upgraded to Federation 2
// first (upgradeSubgraphsIfNecessary), then validated; the errors of either step are the verdict.
"use strict";
const { buildSubgraph, errorCauses, Subgraphs, upgradeSubgraphsIfNecessary } = require("@apollo/federation-internals");

function causesOf(e) {
  const causes = errorCauses(e);
  if (!causes) {
    throw e;
  }
  return causes;
}

function verdict(errors) {
  return {
    valid: errors.length === 0,
    errors: errors.map((c) => ({ code: (c.extensions && c.extensions.code) || "UNKNOWN", message: c.message })),
  };
}

function validate(sdl) {
  try {
    return verdictOf(sdl);
  } catch (e) {
    // Apollo itself failed (not a validation error): report it instead of losing the whole batch.
    return { valid: null, errors: [], crashed: String(e && e.message ? e.message : e) };
  }
}

function verdictOf(sdl) {
  let subgraph;
  try {
    subgraph = buildSubgraph("subgraph", "http://subgraph", sdl);
  } catch (e) {
    return verdict(causesOf(e));
  }
  try {
    if (subgraph.isFed2Subgraph()) {
      subgraph.validate();
      return verdict([]);
    }
    const subgraphs = new Subgraphs();
    subgraphs.add(subgraph);
    const upgraded = upgradeSubgraphsIfNecessary(subgraphs);
    if (upgraded.errors && upgraded.errors.length > 0) {
      return verdict(upgraded.errors);
    }
    return verdict(upgraded.subgraphs.validate() || []);
  } catch (e) {
    return verdict(causesOf(e));
  }
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map(validate)));
});
