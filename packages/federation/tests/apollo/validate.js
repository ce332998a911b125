// Reads a JSON array on stdin and prints, for each element, Apollo Federation's verdict on it as one
// subgraph: {"valid": bool, "errors": [{"code": ..., "message": ...}]}. An element is an SDL string, or
// {"sdl": ..., "companions": [SDL, ...]}: the other subgraphs of its supergraph.
//
// A Federation 2 schema (one that @links the federation spec) is built and validated as it is. A
// Federation 1 schema goes through the same path composition takes: it is upgraded to Federation 2
// first (upgradeSubgraphsIfNecessary, with its companions, since the upgrade looks for the base
// definition of each `extend type` in the other subgraphs), then validated; the errors of either step
// that concern this subgraph are the verdict.
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

function validate(element) {
  const sdl = typeof element === "string" ? element : element.sdl;
  const companions = typeof element === "string" ? [] : element.companions || [];
  try {
    return verdictOf(sdl, companions);
  } catch (e) {
    // Apollo itself failed (not a validation error): report it instead of losing the whole batch.
    return { valid: null, errors: [], crashed: String(e && e.message ? e.message : e) };
  }
}

function companion(sdl, index) {
  // A companion that does not build is a mistake of the corpus: a plain Error, reported as a crash.
  try {
    return buildSubgraph(`companion${index}`, "http://companion", sdl);
  } catch (e) {
    throw new Error(`companion ${index} does not build: ${e.message}`);
  }
}

function verdictOf(sdl, companions) {
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
    companions.forEach((other, index) => subgraphs.add(companion(other, index)));
    const upgraded = upgradeSubgraphsIfNecessary(subgraphs);
    if (upgraded.errors && upgraded.errors.length > 0) {
      // Errors name their subgraph as "[name] ..."; a companion's is a mistake of the corpus.
      const theirs = upgraded.errors.filter((e) => e.message.startsWith("[companion"));
      if (theirs.length > 0) {
        throw new Error(`a companion does not upgrade: ${theirs[0].message}`);
      }
      return verdict(upgraded.errors);
    }
    try {
      upgraded.subgraphs.get("subgraph").validate();
    } catch (e) {
      return verdict(causesOf(e));
    }
    return verdict([]);
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
