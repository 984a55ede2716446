// nodeJsBackend (noble + node:crypto Ed25519 verify with ZIP-215 re-check of rejects) must pass
// the same suite as every backend: its verdicts equal the js oracle's on every vector.
import { nodeJsBackend } from '../../src/crypto/select.js';
import { defineBackendSuite } from '../../../../test/crypto/suite.js';

defineBackendSuite('js+node:crypto', async () => nodeJsBackend());
