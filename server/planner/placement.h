/* placement.h — which kplane instance runs which task when several share the work. */
#ifndef KP_PLACEMENT_H
#define KP_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Places @p ntasks running tasks (of every group) on @p ninst live instances, in place:
 * @p owners[i] is task i's instance (an index below @p ninst) or -1 (none: new, or its
 * instance died). Afterwards every task has an owner and the instances' task counts differ by
 * at most one; the instances that already hold the most keep the larger shares, an instance
 * keeps the tasks it holds up to its share (the first ones by index), and only its surplus
 * and the unowned tasks move, to the instances below their share (in index order): the fewest
 * moves any balanced placement allows. Deterministic, so every instance computing it from the
 * same input gets the same answer. Pure.
 * @returns the number of tasks that changed owner (an unowned task that got one counts), or
 * -1 when @p ninst is 0 and there are tasks (nothing changes), or allocation failed.
 * Cost: O(ntasks + ninst log ninst) time, O(ninst) memory.
 */
long kp_placement_balance(int32_t *owners, size_t ntasks, size_t ninst);

#endif /* KP_PLACEMENT_H */
