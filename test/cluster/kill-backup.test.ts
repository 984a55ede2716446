// Kill -9 a backup validator process under load and restart it (issue 4, section 9): the cluster
// keeps committing while it is down, the restarted validator catches up from its LMDB store and its
// peers, every validator ends with the same log, and every request a client accepted on f+1 signed
// replies is in that log with the result the client was given. The restarted validator caught up
// from a peer's stable checkpoint, so it back-fills the blocks that checkpoint covered from its
// peers (issue 14): in the end every validator serves the whole log, with no gap.
import { describe, expect, it } from 'vitest';
import { checkSameLog } from '@bpci/node/runtime/workload';
import { checkNoLoss, compareLogs, loadedCluster, metricSum, noEquivocation, startLoad, waitBackfilled } from './harness.js';

const run = loadedCluster('kill-backup');

describe('kill -9 of a backup under load', () => {
  it('keeps committing, the restarted backup catches up, no divergence, no accepted request lost', async () => {
    const { cluster } = run;
    const BACKUP = 3;
    const load = (run.load = await startLoad(cluster, 4, 'kb'));
    await cluster.waitHeight([0, 1, 2, 3], 20, 60_000);

    await cluster.kill(BACKUP, 'SIGKILL');
    const atKill = load.count();
    const hKill = (await cluster.state(0)).last_committed_sequence;
    // Progress without it: a quorum of three is still up (well past a checkpoint, so it has to fetch).
    await cluster.waitHeight([0, 1, 2], hKill + 40, 60_000);
    expect(load.count()).toBeGreaterThan(atKill);

    cluster.start(BACKUP);
    await cluster.waitHealthy([BACKUP]);
    // It catches up while the load continues: its height reaches what the others had at restart.
    const target = Math.max(...(await Promise.all([0, 1, 2].map((i) => cluster.state(i)))).map((s) => s.last_committed_sequence));
    await cluster.waitHeight([BACKUP], target, 60_000);
    // ...and then keeps voting on new requests with the others.
    await cluster.waitHeight([0, 1, 2, 3], target + 20, 60_000);

    await load.stop();
    const accepted = load.accepted;
    expect(accepted.length).toBeGreaterThan(0);
    // The restarted backup caught up from a stable checkpoint; the blocks that checkpoint covers
    // were not in its block log (the snapshot replaced them) until it back-filled them from its
    // peers, each verified against its commit certificate.
    const bf = await waitBackfilled(cluster, BACKUP, 90_000);
    // No gaps anywhere now: every validator serves every block, and they agree.
    const logs = await compareLogs(cluster, [0, 1, 2, 3]);
    expect(logs.problems).toEqual([]);
    expect(logs.gaps[BACKUP]).toEqual([]);
    expect((await checkSameLog(cluster.apiUrls(), { waitMs: 30_000 })).mismatch).toBeNull();
    expect(logs.height).toBeGreaterThanOrEqual(target + 20);
    const metrics = await cluster.metrics(BACKUP);
    // Nothing honest peers sent was refused as bad (timeouts or empty answers would be no fault).
    expect(metricSum(metrics, 'bpci_backfill_rejected_total', 'reason="bad_certificate"') + metricSum(metrics, 'bpci_backfill_rejected_total', 'reason="wrong_seq"')).toBe(0);
    // No loss: every accepted request is in the logs of the validators that never went down, with
    // the accepted result; and in the restarted one's, everywhere: with the accepted result where
    // it executed the block, with the right height and "result unknown" where it back-filled it.
    expect(await checkNoLoss(cluster.apiUrls([0, 1, 2]), accepted)).toEqual([]);
    const unknown = { count: 0 };
    expect(await checkNoLoss(cluster.apiUrls([BACKUP]), accepted, 8, { backfilled: true, unknownResults: unknown })).toEqual([]);
    // A request whose result is unknown there sits in a back-filled block, so there were some.
    if (unknown.count > 0) expect(bf.backfilled).toBeGreaterThan(0);
    console.log(`kill-backup: ${accepted.length} requests accepted (${load.failures} client timeouts), height ${logs.height}, restarted validator back-filled ${bf.backfilled} blocks (stable checkpoint ${bf.stable}); ${unknown.count} accepted requests there have result unknown`);
    // The restarted validator never signed anything conflicting with what it signed before the crash.
    expect(await noEquivocation(cluster, [0, 1, 2, 3])).toEqual([]);
  }, 240_000);
});
