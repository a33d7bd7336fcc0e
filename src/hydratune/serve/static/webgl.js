// hydratune serve: a worker that asks what draws WebGL here, off the page's thread (charts.js
// starts it once the first charts are drawn): the first WebGL context starts the GPU process.
// Answers "gpu", "software" (SwiftShader, llvmpipe: WebGL drawn on the CPU) or "none".
"use strict";

function kind() {
  const gl = typeof OffscreenCanvas === "undefined" ? null : new OffscreenCanvas(1, 1).getContext("webgl");
  if (!gl || !["ANGLE_instanced_arrays", "OES_element_index_uint"].every((e) => gl.getExtension(e))) return "none";
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
  gl.getExtension("WEBGL_lose_context")?.loseContext(); // a probe: do not hold a context
  return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer) ? "software" : "gpu";
}

postMessage(kind());
