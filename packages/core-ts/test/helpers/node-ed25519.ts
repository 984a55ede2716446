// Test-only re-export: the node:crypto Ed25519 backend lives with the simulator CLI.
export { nodeEd25519Backend } from '../../src/testing/node-ed25519.js';
