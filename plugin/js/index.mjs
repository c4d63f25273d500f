// The ES module entry point: the same CommonJS module wasm-bindgen generated for Node, so that
// `import` and `require` share one instance of the WebAssembly module.
import trailtag from './pkg/trailtag.js';

export const { Trailtag } = trailtag;
export default trailtag;
