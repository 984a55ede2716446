// PBFT configuration: defaults and the relations between bounds, asserted once at construction.

import { CODEC_LIMITS } from '../codec/codec.js';
import type { PbftConfig } from './types.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const DEFAULT_PBFT_CONFIG: PbftConfig = {
  checkpointInterval: 64,
  watermarkWindow: 256,
  batchSizeMax: 512,
  batchBytesMax: 1024 * 1024,
  batchDelayTicks: 1,
  inflightMax: 32,
  viewChangeTimeoutTicks: 40,
  viewChangeTimeoutTicksMax: 1280,
  retransmitTicks: 8,
  fetchTicks: 12,
  fetchBatchesMax: 64,
  pendingRequestsMax: 100_000,
  verify: 'lazy',
};

export function resolveConfig(partial: Partial<PbftConfig> | undefined): PbftConfig {
  const c: PbftConfig = { ...DEFAULT_PBFT_CONFIG, ...partial };
  const positive: (keyof PbftConfig)[] = [
    'checkpointInterval',
    'watermarkWindow',
    'batchSizeMax',
    'batchBytesMax',
    'inflightMax',
    'viewChangeTimeoutTicks',
    'viewChangeTimeoutTicksMax',
    'retransmitTicks',
    'fetchTicks',
    'fetchBatchesMax',
    'pendingRequestsMax',
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
      throw new ConfigError(`config.${k} must be a positive integer, got ${String(v)}`);
    }
  }
  if (!Number.isSafeInteger(c.batchDelayTicks) || c.batchDelayTicks < 0) {
    throw new ConfigError(`config.batchDelayTicks must be a non-negative integer, got ${c.batchDelayTicks}`);
  }
  if (c.watermarkWindow % c.checkpointInterval !== 0 || c.watermarkWindow < 2 * c.checkpointInterval) {
    throw new ConfigError(
      `config.watermarkWindow (${c.watermarkWindow}) must be a multiple of checkpointInterval (${c.checkpointInterval}) and at least twice it`,
    );
  }
  if (c.inflightMax > c.watermarkWindow) {
    throw new ConfigError(`config.inflightMax (${c.inflightMax}) must be <= watermarkWindow (${c.watermarkWindow})`);
  }
  if (c.viewChangeTimeoutTicksMax < c.viewChangeTimeoutTicks) {
    throw new ConfigError('config.viewChangeTimeoutTicksMax must be >= viewChangeTimeoutTicks');
  }
  if (c.batchSizeMax > CODEC_LIMITS.batchRequestsMax) {
    throw new ConfigError(`config.batchSizeMax must be <= ${CODEC_LIMITS.batchRequestsMax} (codec bound), got ${c.batchSizeMax}`);
  }
  if (c.fetchBatchesMax > CODEC_LIMITS.transferBatchesMax) {
    throw new ConfigError(`config.fetchBatchesMax must be <= ${CODEC_LIMITS.transferBatchesMax} (codec bound), got ${c.fetchBatchesMax}`);
  }
  // A view-change reports at most one prepared certificate per seq of the window, and the codec
  // accepts at most preparedCertsMax of them: a larger window would make view-changes that no
  // peer decodes.
  if (c.watermarkWindow > CODEC_LIMITS.preparedCertsMax) {
    throw new ConfigError(`config.watermarkWindow must be <= ${CODEC_LIMITS.preparedCertsMax} (prepared certificates a view-change may carry), got ${c.watermarkWindow}`);
  }
  if (c.verify !== 'lazy' && c.verify !== 'eager') throw new ConfigError(`config.verify must be 'lazy' or 'eager', got ${String(c.verify)}`);
  return c;
}
