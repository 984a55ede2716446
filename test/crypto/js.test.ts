import { jsBackend } from '@bpci/core';
import { defineBackendSuite } from './suite.js';

defineBackendSuite('js', async () => jsBackend());
