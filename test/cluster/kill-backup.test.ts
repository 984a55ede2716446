// Kill -9 a backup validator process under load and restart it (issue 4, section 9): the cluster
// keeps committing while it is down, the restarted validator catches up from its LMDB store and its
// peers, every validator ends with the same log, and every request a client accepted on f+1 signed
// replies is in that log with the result the client was given.
import { describe, expect, it } from 'vitest';
import { checkSameLog } from '@bpci/node/runtime/workload';
import { checkNoLoss, compareLogs, loadedCluster, noEquivocation, startLoad } from './harness.js';

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
    // The restarted backup caught up from a stable checkpoint: blocks that checkpoint covers are
    // not in its block log (the snapshot replaces them), so its log may have gaps below it.
    const logs = await compareLogs(cluster, [0, 1, 2, 3], [BACKUP]);
    expect(logs.problems).toEqual([]);
    const gap = logs.gaps[BACKUP] ?? [];
    // The runtime's own check (npm start, bench) must agree: snapshot gaps are not a mismatch.
    expect((await checkSameLog(cluster.apiUrls(), { waitMs: 30_000 })).mismatch).toBeNull();
    expect(logs.height).toBeGreaterThanOrEqual(target + 20);
    console.log(`kill-backup: ${accepted.length} requests accepted (${load.failures} client timeouts), height ${logs.height}, restarted validator's snapshot gap ${gap.length ? `${gap[0]}..${gap[gap.length - 1]} (${gap.length} blocks)` : 'none'}`);
    // No loss: every accepted request is in the logs of the validators that never went down, with
    // the accepted result; and in the restarted one's log wherever that holds the block.
    expect(await checkNoLoss(cluster.apiUrls([0, 1, 2]), accepted)).toEqual([]);
    const outsideGap = accepted.filter((a) => !gap.includes(a.seq));
    // The restarted validator never signed anything conflicting with what it signed before the crash.
    expect(await noEquivocation(cluster, [0, 1, 2, 3])).toEqual([]);
    expect(await checkNoLoss(cluster.apiUrls([BACKUP]), outsideGap)).toEqual([]);
  }, 180_000);
});
