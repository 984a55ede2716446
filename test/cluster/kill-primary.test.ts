// Kill -9 the primary (validator 0 in view 0) under load (issue 4, section 9): the backups time out
// (phase_timeout_seconds: 1 in these configs), change view, and keep committing new requests; the
// old primary restarts from its store, rejoins in the new view and catches up; logs agree and no
// request a client accepted on f+1 signed replies is lost.
import { describe, expect, it } from 'vitest';
import { checkNoLoss, compareLogs, loadedCluster, noEquivocation, metricSum, until, startLoad, waitBackfilled } from './harness.js';

const run = loadedCluster('kill-primary');

describe('kill -9 of the primary under load', () => {
  it('changes view, keeps committing, and the restarted old primary rejoins', async () => {
    const { cluster } = run;
    const PRIMARY = 0;
    const s0 = await cluster.state(PRIMARY);
    expect(s0.view).toBe(0);
    expect(s0.primary).toBe(cluster.members[PRIMARY]!.validatorId);
    const load = (run.load = await startLoad(cluster, 4, 'kp'));
    await cluster.waitHeight([0, 1, 2, 3], 20, 60_000);

    await cluster.kill(PRIMARY, 'SIGKILL');
    const backups = [1, 2, 3];
    const states = async () => Promise.all(backups.map((i) => cluster.state(i)));
    // A view change: every backup is in a view > 0, in normal mode, under a primary that is alive.
    const after = await until(
      'a view change at every backup',
      60_000,
      async () => {
        const ss = await states();
        return ss.every((s) => s.view > 0 && s.mode === 'normal' && s.primary !== cluster.members[PRIMARY]!.validatorId && s.view === ss[0]!.view) ? ss : undefined;
      },
      async () => JSON.stringify((await states()).map((s) => ({ view: s.view, mode: s.mode, primary: s.primary, h: s.last_committed_sequence }))),
    );
    const newView = after[0]!.view;
    // Progress continues: new requests commit in the new view.
    const countAtVc = load.count();
    const hVc = Math.max(...after.map((s) => s.last_committed_sequence));
    await cluster.waitHeight(backups, hVc + 30, 60_000);
    await until('new requests accepted after the view change', 60_000, () => (load!.count() > countAtVc + 10 ? true : undefined), () => `${load!.count()} accepted, ${countAtVc} at view change`);
    const metrics1 = await cluster.metrics(1);
    expect(metricSum(metrics1, 'bpci_view_changes_total')).toBeGreaterThan(0);

    // The old primary restarts and rejoins: same view as the others, catches up, keeps voting.
    cluster.start(PRIMARY);
    await cluster.waitHealthy([PRIMARY]);
    await until('the restarted validator in the current view', 60_000, async () => {
      const s = await cluster.state(PRIMARY);
      const ref = await cluster.state(1);
      return s.view === ref.view && s.mode === 'normal' ? true : undefined;
    }, async () => JSON.stringify([await cluster.state(PRIMARY), await cluster.state(1)].map((s) => ({ view: s.view, mode: s.mode, h: s.last_committed_sequence }))));
    const target = Math.max(...(await states()).map((s) => s.last_committed_sequence));
    await cluster.waitHeight([PRIMARY], target, 60_000);
    await cluster.waitHeight([0, 1, 2, 3], target + 20, 60_000);

    await load.stop();
    const accepted = load.accepted;
    // If it caught up from a snapshot, it back-fills the blocks below it: then no gap anywhere.
    const bf = await waitBackfilled(cluster, PRIMARY, 90_000);
    const logs = await compareLogs(cluster, [0, 1, 2, 3]);
    expect(logs.problems).toEqual([]);
    console.log(`kill-primary: view ${newView} after the kill, ${accepted.length} requests accepted (${load.failures} client timeouts), height ${logs.height}, restarted validator back-filled ${bf.backfilled} blocks`);
    expect((await cluster.state(PRIMARY)).view).toBeGreaterThanOrEqual(newView);
    // A backup that fell a window behind under load (a 2-core CI host running test files in
    // parallel) catches up from a snapshot and back-fills: its blocks are all there, with "result
    // unknown" for the ones it never executed. Nothing may be missing anywhere.
    expect(await checkNoLoss(cluster.apiUrls(backups), accepted, 8, { backfilled: true })).toEqual([]);
    // The restarted validator never signed anything conflicting with what it signed before the crash.
    expect(await noEquivocation(cluster, [0, 1, 2, 3])).toEqual([]);
    // Every accepted request at the restarted one too: with its result where it executed the
    // block, at the right height with "result unknown" where it back-filled it.
    expect(await checkNoLoss(cluster.apiUrls([PRIMARY]), accepted, 8, { backfilled: true })).toEqual([]);
  }, 180_000);
});
