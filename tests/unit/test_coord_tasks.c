/* test_coord_tasks.c — the leader's placement of running tasks over instances, and the rule by
 * which an instance stops and starts them: never two live instances running one task, however
 * late each sees the placements and the others' reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "coord/coord_tasks.h"

static const char *const GROUPS[] = {"analytics", "billing", "mirror"};

static kp_coord_task_t T(int g, int task)
{
        return (kp_coord_task_t){GROUPS[g], task};
}

/* @returns how many tasks of @p pl instance @p id owns. */
static size_t owned(const kp_coord_placement_t *pl, const char *id)
{
        size_t n = 0;
        for (size_t i = 0; i < pl->tasks.cnt; i++)
                n += !strcmp(pl->owner[i], id);
        return n;
}

static void test_twelve_tasks_on_three_instances_go_four_each(void **state)
{
        (void)state;
        kp_coord_tasks_t running = {0};
        for (int t = 0; t < 12; t++)
                assert_int_equal(kp_coord_tasks_add(&running, T(0, t)), 0);
        const char *live[] = {"kp-1", "kp-2", "kp-3"};
        kp_coord_placement_t pl;
        assert_int_equal(kp_coord_placement_next(NULL, &running, live, 3, &pl), 0);
        assert_int_equal(pl.epoch, 1);
        for (int i = 0; i < 3; i++)
                assert_int_equal(owned(&pl, live[i]), 4);

        /* kp-2 dies: only its four move, two to each survivor; the epoch moves on */
        const char *two[] = {"kp-1", "kp-3"};
        kp_coord_placement_t next;
        assert_int_equal(kp_coord_placement_next(&pl, &running, two, 2, &next), 0);
        assert_int_equal(next.epoch, 2);
        size_t moved = 0;
        for (size_t i = 0; i < 12; i++)
                moved += strcmp(pl.owner[i], next.owner[i]) != 0;
        assert_int_equal(moved, 4);
        assert_int_equal(owned(&next, "kp-1"), 6);
        assert_int_equal(owned(&next, "kp-3"), 6);

        /* the same input again changes nothing, so the epoch stays */
        kp_coord_placement_t same;
        assert_int_equal(kp_coord_placement_next(&next, &running, two, 2, &same), 0);
        assert_int_equal(same.epoch, 2);
        kp_coord_placement_cleanup(&same);
        kp_coord_placement_cleanup(&next);
        kp_coord_placement_cleanup(&pl);
        kp_coord_tasks_cleanup(&running);
}

static void test_tasks_but_no_live_instance_is_refused(void **state)
{
        (void)state;
        kp_coord_tasks_t running = {0};
        assert_int_equal(kp_coord_tasks_add(&running, T(1, 0)), 0);
        assert_int_equal(kp_coord_tasks_add(&running, T(1, 0)), 0); /* a set: once */
        assert_int_equal(running.cnt, 1);
        kp_coord_placement_t pl = {0};
        assert_int_equal(kp_coord_placement_next(NULL, &running, NULL, 0, &pl), KP_ERR_INVALID);
        kp_coord_tasks_cleanup(&running);
}

/* kp-1 runs task 0 under epoch 1; epoch 2 gives it to kp-2. kp-2 may start it only once kp-1
 * reported epoch 2 without it; kp-1 is told to stop it at once. */
static void test_a_moved_task_starts_only_after_its_old_owner_released_it(void **state)
{
        (void)state;
        kp_coord_tasks_t running = {0}, start = {0}, stop = {0}, mine1 = {0}, mine2 = {0};
        assert_int_equal(kp_coord_tasks_add(&running, T(0, 0)), 0);
        const char *one[] = {"kp-1"}, *both[] = {"kp-2"};
        kp_coord_placement_t p1, p2;
        assert_int_equal(kp_coord_placement_next(NULL, &running, one, 1, &p1), 0);
        assert_int_equal(kp_coord_placement_next(&p1, &running, both, 1, &p2), 0);
        assert_int_equal(p2.epoch, p1.epoch + 1);
        assert_int_equal(kp_coord_tasks_add(&mine1, T(0, 0)), 0);

        /* kp-1 under p2: stop task 0, start nothing */
        assert_int_equal(kp_coord_tasks_decide(&p2, "kp-1", &mine1, NULL, 0, &start, &stop), 0);
        assert_int_equal(stop.cnt, 1);
        assert_int_equal(start.cnt, 0);

        /* kp-2 under p2 while kp-1's report is still epoch 1 with the task: wait */
        kp_coord_report_t r = {"kp-1", p1.epoch, mine1.items, mine1.cnt};
        assert_int_equal(kp_coord_tasks_decide(&p2, "kp-2", &mine2, &r, 1, &start, &stop), 0);
        assert_int_equal(start.cnt, 0);
        /* kp-1 reported epoch 2 but (wrongly) still lists it: still wait */
        r.epoch = p2.epoch;
        assert_int_equal(kp_coord_tasks_decide(&p2, "kp-2", &mine2, &r, 1, &start, &stop), 0);
        assert_int_equal(start.cnt, 0);
        /* kp-1 released it: start */
        r.nrunning = 0;
        assert_int_equal(kp_coord_tasks_decide(&p2, "kp-2", &mine2, &r, 1, &start, &stop), 0);
        assert_int_equal(start.cnt, 1);
        assert_string_equal(start.items[0].group, "analytics");
        /* a dead kp-1 (its report left out) holds nothing back */
        assert_int_equal(kp_coord_tasks_decide(&p2, "kp-2", &mine2, NULL, 0, &start, &stop), 0);
        assert_int_equal(start.cnt, 1);
        kp_coord_tasks_cleanup(&start);
        kp_coord_tasks_cleanup(&stop);
        kp_coord_tasks_cleanup(&mine1);
        kp_coord_tasks_cleanup(&running);
        kp_coord_placement_cleanup(&p1);
        kp_coord_placement_cleanup(&p2);
}

/* ------------------------------------------------------------------ the simulation */

#define SIM_INST  4
#define SIM_TASKS 10
#define SIM_HIST  4096

static const char *const SIM_IDS[SIM_INST] = {"kp-1", "kp-2", "kp-3", "kp-4"};

/* One report an instance wrote: what the others read, in order, each at its own pace. */
typedef struct sim_report {
        int64_t epoch;
        kp_coord_task_t running[SIM_TASKS];
        size_t n;
} sim_report_t;

typedef struct sim {
        kp_coord_placement_t pl[SIM_HIST]; /* every placement the leader published */
        size_t npl;
        sim_report_t rep[SIM_INST][SIM_HIST];
        size_t nrep[SIM_INST];
        int alive[SIM_INST];
        size_t pl_seen[SIM_INST];            /* index of the placement it acts on */
        size_t rep_seen[SIM_INST][SIM_INST]; /* index of the other's report it read */
        int sees_dead[SIM_INST][SIM_INST];   /* it saw the other leave the group */
        kp_coord_tasks_t mine[SIM_INST];
        unsigned seed, seed0;
} sim_t;

static unsigned rnd(sim_t *s, unsigned n)
{
        s->seed = s->seed * 1103515245u + 12345u;
        return (s->seed >> 16) % n;
}

static void sim_report(sim_t *s, int i)
{
        sim_report_t *r = &s->rep[i][s->nrep[i]++];
        assert_true(s->nrep[i] < SIM_HIST);
        r->epoch = s->pl[s->pl_seen[i]].epoch;
        r->n = s->mine[i].cnt;
        memcpy(r->running, s->mine[i].items, r->n * sizeof(*r->running));
}

/* The leader (the first live instance) publishes a placement of the running tasks over the
 * instances alive now. */
static void sim_publish(sim_t *s, size_t ntasks)
{
        kp_coord_tasks_t running = {0};
        const char *live[SIM_INST];
        size_t nlive = 0;
        for (size_t t = 0; t < ntasks; t++)
                assert_int_equal(kp_coord_tasks_add(&running, T((int)(t % 3), (int)t)), 0);
        for (int i = 0; i < SIM_INST; i++)
                if (s->alive[i])
                        live[nlive++] = SIM_IDS[i];
        if (nlive && s->npl + 1 < SIM_HIST) {
                assert_int_equal(kp_coord_placement_next(&s->pl[s->npl - 1], &running, live, nlive,
                                                         &s->pl[s->npl]),
                                 0);
                s->npl++;
        }
        kp_coord_tasks_cleanup(&running);
}

/* Instance @p i takes one step: reads some more of what the others wrote, then decides and
 * acts on the placement it has, and reports. */
static void sim_step(sim_t *s, int i)
{
        kp_coord_report_t others[SIM_INST];
        size_t n = 0;
        kp_coord_tasks_t start = {0}, stop = {0};
        s->pl_seen[i] += rnd(s, 2) ? (s->npl - 1 - s->pl_seen[i] + 1) / 2 : 0;
        for (int j = 0; j < SIM_INST; j++) {
                if (j == i)
                        continue;
                s->rep_seen[i][j] += (s->nrep[j] - 1 - s->rep_seen[i][j]) * rnd(s, 2);
                s->sees_dead[i][j] |= !s->alive[j] && rnd(s, 2);
                if (s->sees_dead[i][j])
                        continue;
                const sim_report_t *r = &s->rep[j][s->rep_seen[i][j]];
                others[n++] = (kp_coord_report_t){SIM_IDS[j], r->epoch, r->running, r->n};
        }
        const kp_coord_placement_t *pl = &s->pl[s->pl_seen[i]];
        assert_int_equal(
                kp_coord_tasks_decide(pl, SIM_IDS[i], &s->mine[i], others, n, &start, &stop), 0);
        kp_coord_tasks_t keep = {0};
        for (size_t k = 0; k < s->mine[i].cnt; k++)
                if (!kp_coord_tasks_has(stop.items, stop.cnt, s->mine[i].items[k]))
                        assert_int_equal(kp_coord_tasks_add(&keep, s->mine[i].items[k]), 0);
        for (size_t k = 0; k < start.cnt; k++)
                assert_int_equal(kp_coord_tasks_add(&keep, start.items[k]), 0);
        kp_coord_tasks_cleanup(&s->mine[i]);
        s->mine[i] = keep;
        sim_report(s, i);
        kp_coord_tasks_cleanup(&start);
        kp_coord_tasks_cleanup(&stop);
}

/* No task runs on two live instances. */
static void sim_check(const sim_t *s, size_t round)
{
        for (int i = 0; i < SIM_INST; i++)
                for (int j = i + 1; j < SIM_INST; j++)
                        for (size_t k = 0; s->alive[i] && s->alive[j] && k < s->mine[i].cnt; k++)
                                if (kp_coord_tasks_has(s->mine[j].items, s->mine[j].cnt,
                                                       s->mine[i].items[k]))
                                        fail_msg("seed %u round %zu: task %s/%d on %s and %s",
                                                 s->seed0, round, s->mine[i].items[k].group,
                                                 s->mine[i].items[k].task, SIM_IDS[i], SIM_IDS[j]);
}

static void sim_run(unsigned seed)
{
        sim_t *s = calloc(1, sizeof(*s));
        assert_non_null(s);
        s->seed = s->seed0 = seed;
        for (int i = 0; i < SIM_INST; i++) {
                s->alive[i] = 1;
                sim_report(s, i); /* epoch 0, nothing running */
        }
        s->npl = 1; /* placement 0: nothing runs */
        size_t ntasks = SIM_TASKS;
        for (size_t round = 0; round < 400; round++) {
                unsigned ev = rnd(s, 20);
                int who = (int)rnd(s, SIM_INST);
                if (ev == 0 && s->alive[who]) { /* kill -9: it runs nothing any more */
                        s->alive[who] = 0;
                        kp_coord_tasks_cleanup(&s->mine[who]);
                        sim_publish(s, ntasks);
                } else if (ev == 1 && !s->alive[who]) { /* restarted: a new member */
                        s->alive[who] = 1;
                        s->pl_seen[who] = s->npl - 1;
                        for (int j = 0; j < SIM_INST; j++)
                                s->sees_dead[j][who] = 0;
                        sim_report(s, who);
                        sim_publish(s, ntasks);
                } else if (ev == 2) { /* groups start and stop: the task set changes */
                        ntasks = 1 + rnd(s, SIM_TASKS);
                        sim_publish(s, ntasks);
                } else if (s->alive[who]) {
                        sim_step(s, who);
                }
                sim_check(s, round);
        }
        for (size_t k = 1; k < s->npl; k++)
                kp_coord_placement_cleanup(&s->pl[k]);
        for (int i = 0; i < SIM_INST; i++)
                kp_coord_tasks_cleanup(&s->mine[i]);
        free(s);
}

/* Random deaths, restarts, task sets and reading delays over many seeds: at every moment
 * each task runs on one live instance at most. */
static void test_no_task_ever_runs_on_two_live_instances(void **state)
{
        (void)state;
        for (unsigned seed = 1; seed <= 300; seed++)
                sim_run(seed);
}

/* Once everyone has read everything, every placed task runs where the placement says. */
static void test_with_everything_read_every_task_runs_on_its_owner(void **state)
{
        (void)state;
        sim_t *s = calloc(1, sizeof(*s));
        assert_non_null(s);
        for (int i = 0; i < 3; i++) {
                s->alive[i] = 1;
                sim_report(s, i);
        }
        s->npl = 1;
        sim_publish(s, 9);
        for (int pass = 0; pass < 3; pass++)
                for (int i = 0; i < 3; i++) {
                        s->pl_seen[i] = s->npl - 1;
                        for (int j = 0; j < SIM_INST; j++)
                                s->rep_seen[i][j] = s->nrep[j] ? s->nrep[j] - 1 : 0;
                        s->seed = 1; /* rnd() then reads on: see sim_step */
                        sim_step(s, i);
                }
        for (int i = 0; i < 3; i++)
                assert_int_equal(s->mine[i].cnt, 3);
        for (size_t k = 1; k < s->npl; k++)
                kp_coord_placement_cleanup(&s->pl[k]);
        for (int i = 0; i < SIM_INST; i++)
                kp_coord_tasks_cleanup(&s->mine[i]);
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_twelve_tasks_on_three_instances_go_four_each),
                cmocka_unit_test(test_tasks_but_no_live_instance_is_refused),
                cmocka_unit_test(test_a_moved_task_starts_only_after_its_old_owner_released_it),
                cmocka_unit_test(test_no_task_ever_runs_on_two_live_instances),
                cmocka_unit_test(test_with_everything_read_every_task_runs_on_its_owner),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
