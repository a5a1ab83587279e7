// Drives Kafka's assignors on a group that already owns partitions: one task more or less, or a tenth more partitions.
package kplane.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.coordinator.group.api.assignor.GroupAssignment;
import org.apache.kafka.coordinator.group.api.assignor.MemberAssignment;
import org.apache.kafka.coordinator.group.api.assignor.SubscribedTopicDescriber;
import org.apache.kafka.coordinator.group.api.assignor.SubscriptionType;
import org.apache.kafka.coordinator.group.assignor.UniformAssignor;
import org.apache.kafka.coordinator.group.modern.Assignment;
import org.apache.kafka.coordinator.group.modern.GroupSpecImpl;
import org.apache.kafka.coordinator.group.modern.MemberSubscriptionAndAssignmentImpl;

/*
 * The inputs follow apache/kafka's own jmh-benchmarks (ClientSideAssignorBenchmark and
 * ServerSideAssignorBenchmark, assignmentType INCREMENTAL; TargetAssignmentBuilderBenchmark
 * for the KIP-848 target assignment):
 * - CooperativeSticky: every member's Subscription carries its ownedPartitions and a
 *   generation; a new member comes with none and the default generation.
 * - Uniform: a GroupSpecImpl whose members carry their current target assignment
 *   (MemberSubscriptionAndAssignmentImpl with an Assignment) plus the inverted target
 *   assignment (partition -> member) the coordinator keeps; a new member has
 *   Assignment.EMPTY.
 * Unlike those benchmarks, the previous assignment is not each assignor's own fresh plan
 * but the same one kplane's side starts from (bench_vs_assignors.c): flat partition i
 * (topic-00's partitions first) owned by member i % T. Both are balanced; the same start
 * makes "partitions moved" comparable across all three.
 *
 * CooperativeSticky is cooperative: its first assignment leaves out every partition that
 * changes owner (the owner revokes it), and a follow-up rebalance hands those out. The
 * timed figure is the first call, the one that decides the moves; the follow-up is timed
 * apart and the final assignment (after it) is the one counted for moves and balance.
 */
final class Replan {
    static final String[] CASES = {"add_task", "remove_task", "add_partitions"};
    static final int GENERATION = 1;

    private Replan() {
    }

    /* One run: the new owner of every partition (index in the new flat layout, -1 if
     * none) and how long the assignor took. */
    static final class Result {
        int[] owner;
        long nanos;
        long followupNanos;
    }

    interface Prepared {
        Result run();
    }

    /* The layout before and after one change, shared by both assignors. */
    static final class Layout {
        final int per;
        final int per2;
        final int tasks;
        final int tasks2;

        Layout(String change, int partitions, int tasks) {
            this.per = partitions / Assignors.TOPICS;
            this.per2 = change.equals("add_partitions") ? per + per / 10 : per;
            this.tasks = tasks;
            this.tasks2 = change.equals("add_task") ? tasks + 1 : change.equals("remove_task") ? tasks - 1 : tasks;
            if (!Arrays.asList(CASES).contains(change) || tasks2 < 1) {
                throw new IllegalArgumentException("bad re-plan " + change + " of " + tasks + " tasks");
            }
        }

        int partitions2() {
            return per2 * Assignors.TOPICS;
        }

        /* The owner before the change of partition p of topic t, or -1 for a new one. */
        int oldOwner(int t, int p) {
            return p < per ? (int) (((long) t * per + p) % tasks) : -1;
        }

        int flat(int t, int p) {
            return t * per2 + p;
        }
    }

    static int memberIndex(String id) {
        return Integer.parseInt(id.substring("member-".length()));
    }

    static Prepared prepare(String assignor, String change, int partitions, int tasks) {
        Layout l = new Layout(change, partitions, tasks);
        switch (assignor) {
            case Assignors.COOPERATIVE_STICKY:
                return cooperativeSticky(l);
            case Assignors.UNIFORM:
                return uniform(l);
            default:
                throw new IllegalArgumentException("unknown assignor " + assignor);
        }
    }

    private static Prepared cooperativeSticky(Layout l) {
        Map<String, List<PartitionInfo>> partitionsPerTopic = new LinkedHashMap<>();
        List<String> topics = new ArrayList<>();
        TopicPartition[][] tp = new TopicPartition[Assignors.TOPICS][l.per2];
        Node[] none = new Node[0];
        for (int t = 0; t < Assignors.TOPICS; t++) {
            String topic = Assignors.topicName(t);
            topics.add(topic);
            List<PartitionInfo> infos = new ArrayList<>(l.per2);
            for (int p = 0; p < l.per2; p++) {
                infos.add(new PartitionInfo(topic, p, null, none, none));
                tp[t][p] = new TopicPartition(topic, p);
            }
            partitionsPerTopic.put(topic, infos);
        }
        /* Owned partitions of every member that stays (a removed member is simply gone). */
        List<List<TopicPartition>> owned = new ArrayList<>(l.tasks);
        for (int m = 0; m < l.tasks; m++) {
            owned.add(new ArrayList<>());
        }
        for (int t = 0; t < Assignors.TOPICS; t++) {
            for (int p = 0; p < l.per; p++) {
                owned.get(l.oldOwner(t, p)).add(tp[t][p]);
            }
        }
        Map<String, Subscription> subscriptions = new HashMap<>();
        for (int m = 0; m < Math.min(l.tasks, l.tasks2); m++) {
            subscriptions.put(Assignors.memberId(m),
                    new Subscription(topics, null, owned.get(m), GENERATION, Optional.empty()));
        }
        for (int m = l.tasks; m < l.tasks2; m++) {
            subscriptions.put(Assignors.memberId(m),
                    new Subscription(topics, null, Collections.emptyList(), -1, Optional.empty()));
        }
        return () -> {
            Result r = new Result();
            long t0 = System.nanoTime();
            Map<String, List<TopicPartition>> first =
                    new CooperativeStickyAssignor().assignPartitions(partitionsPerTopic, subscriptions);
            r.nanos = System.nanoTime() - t0;
            /* The follow-up rebalance: every member now owns what the first one gave it. */
            Map<String, Subscription> next = new HashMap<>();
            for (Map.Entry<String, List<TopicPartition>> e : first.entrySet()) {
                next.put(e.getKey(), new Subscription(topics, null, e.getValue(), GENERATION + 1, Optional.empty()));
            }
            t0 = System.nanoTime();
            Map<String, List<TopicPartition>> fin =
                    new CooperativeStickyAssignor().assignPartitions(partitionsPerTopic, next);
            r.followupNanos = System.nanoTime() - t0;
            r.owner = new int[l.partitions2()];
            Arrays.fill(r.owner, -1);
            for (Map.Entry<String, List<TopicPartition>> e : fin.entrySet()) {
                int m = memberIndex(e.getKey());
                for (TopicPartition x : e.getValue()) {
                    r.owner[l.flat(Integer.parseInt(x.topic().substring("topic-".length())), x.partition())] = m;
                }
            }
            /* Cooperative means no partition is handed out before its owner gave it up
             * (a member that left has given up everything). */
            for (Map.Entry<String, List<TopicPartition>> e : first.entrySet()) {
                int m = memberIndex(e.getKey());
                for (TopicPartition x : e.getValue()) {
                    int t = Integer.parseInt(x.topic().substring("topic-".length()));
                    int was = l.oldOwner(t, x.partition());
                    if (was >= 0 && was < Math.min(l.tasks, l.tasks2) && was != m) {
                        throw new IllegalStateException("cooperative-sticky moved " + x + " without a revocation");
                    }
                }
            }
            return r;
        };
    }

    private static Prepared uniform(Layout l) {
        Random rnd = new Random(42);
        Uuid[] ids = new Uuid[Assignors.TOPICS];
        Map<Uuid, Integer> topicIndex = new HashMap<>();
        for (int t = 0; t < Assignors.TOPICS; t++) {
            ids[t] = new Uuid(rnd.nextLong(), rnd.nextLong());
            topicIndex.put(ids[t], t);
        }
        Set<Uuid> subscribed = Collections.unmodifiableSet(new HashSet<>(Arrays.asList(ids)));
        /* The current target assignment of every member that stays, and its inverse. */
        List<Map<Uuid, Set<Integer>>> target = new ArrayList<>(l.tasks);
        for (int m = 0; m < l.tasks; m++) {
            target.add(new HashMap<>());
        }
        Map<Uuid, Map<Integer, String>> inverted = new HashMap<>();
        for (int t = 0; t < Assignors.TOPICS; t++) {
            Map<Integer, String> inv = new HashMap<>();
            for (int p = 0; p < l.per; p++) {
                int m = l.oldOwner(t, p);
                if (m >= l.tasks2) {
                    continue; /* its member left: unassigned now */
                }
                target.get(m).computeIfAbsent(ids[t], k -> new HashSet<>()).add(p);
                inv.put(p, Assignors.memberId(m));
            }
            inverted.put(ids[t], inv);
        }
        Map<String, MemberSubscriptionAndAssignmentImpl> members = new HashMap<>();
        for (int m = 0; m < l.tasks2; m++) {
            Assignment a = m < l.tasks ? new Assignment(Collections.unmodifiableMap(target.get(m))) : Assignment.EMPTY;
            members.put(Assignors.memberId(m),
                    new MemberSubscriptionAndAssignmentImpl(Optional.empty(), Optional.empty(), subscribed, a));
        }
        GroupSpecImpl spec = new GroupSpecImpl(members, SubscriptionType.HOMOGENEOUS, inverted);
        SubscribedTopicDescriber describer = new SubscribedTopicDescriber() {
            @Override
            public int numPartitions(Uuid topicId) {
                return topicIndex.containsKey(topicId) ? l.per2 : -1;
            }

            @Override
            public Set<String> racksForPartition(Uuid topicId, int partition) {
                return Collections.emptySet();
            }
        };
        return () -> {
            Result r = new Result();
            long t0 = System.nanoTime();
            GroupAssignment result = new UniformAssignor().assign(spec, describer);
            r.nanos = System.nanoTime() - t0;
            r.owner = new int[l.partitions2()];
            Arrays.fill(r.owner, -1);
            for (Map.Entry<String, MemberAssignment> e : result.members().entrySet()) {
                int m = memberIndex(e.getKey());
                for (Map.Entry<Uuid, Set<Integer>> tps : e.getValue().partitions().entrySet()) {
                    int t = topicIndex.get(tps.getKey());
                    for (int p : tps.getValue()) {
                        r.owner[l.flat(t, p)] = m;
                    }
                }
            }
            return r;
        };
    }
}
