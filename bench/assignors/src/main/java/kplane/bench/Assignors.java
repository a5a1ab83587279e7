// Drives Kafka's own assignors on a synthetic group: every member subscribed to every topic.
package kplane.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
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
import org.apache.kafka.coordinator.group.api.assignor.GroupSpec;
import org.apache.kafka.coordinator.group.api.assignor.MemberAssignment;
import org.apache.kafka.coordinator.group.api.assignor.MemberSubscription;
import org.apache.kafka.coordinator.group.api.assignor.SubscribedTopicDescriber;
import org.apache.kafka.coordinator.group.api.assignor.SubscriptionType;
import org.apache.kafka.coordinator.group.assignor.UniformAssignor;

final class Assignors {
    static final String COOPERATIVE_STICKY = "cooperative-sticky";
    static final String UNIFORM = "uniform";
    static final String[] NAMES = {COOPERATIVE_STICKY, UNIFORM};
    /* P partitions are spread over this many topics, P / TOPICS each. */
    static final int TOPICS = 10;

    private Assignors() {
    }

    /* A prepared, repeatable assignment: build once (not timed), run many times (timed).
     * run() returns the partition count of every member, members in id order. */
    interface Prepared {
        int[] run();
    }

    static String topicName(int i) {
        return String.format("topic-%02d", i);
    }

    static String memberId(int i) {
        return String.format("member-%06d", i);
    }

    static Prepared prepare(String name, int partitions, int members) {
        switch (name) {
            case COOPERATIVE_STICKY:
                return cooperativeSticky(partitions, members);
            case UNIFORM:
                return uniform(partitions, members);
            default:
                throw new IllegalArgumentException("unknown assignor " + name);
        }
    }

    private static Prepared cooperativeSticky(int partitions, int members) {
        Map<String, List<PartitionInfo>> partitionsPerTopic = new LinkedHashMap<>();
        List<String> topics = new ArrayList<>();
        Node[] none = new Node[0];
        for (int t = 0; t < TOPICS; t++) {
            String topic = topicName(t);
            topics.add(topic);
            List<PartitionInfo> infos = new ArrayList<>(partitions / TOPICS);
            for (int p = 0; p < partitions / TOPICS; p++) {
                infos.add(new PartitionInfo(topic, p, null, none, none));
            }
            partitionsPerTopic.put(topic, infos);
        }
        Map<String, Integer> index = new HashMap<>();
        /* A fresh group: no owned partitions, no previous generation. */
        Map<String, Subscription> subscriptions = new HashMap<>();
        for (int m = 0; m < members; m++) {
            subscriptions.put(memberId(m), new Subscription(topics));
            index.put(memberId(m), m);
        }
        return () -> {
            CooperativeStickyAssignor assignor = new CooperativeStickyAssignor();
            Map<String, List<TopicPartition>> result =
                    assignor.assignPartitions(partitionsPerTopic, subscriptions);
            int[] counts = new int[members];
            for (Map.Entry<String, List<TopicPartition>> e : result.entrySet()) {
                counts[index.get(e.getKey())] = e.getValue().size();
            }
            return counts;
        };
    }

    private static Prepared uniform(int partitions, int members) {
        Random rnd = new Random(42);
        Map<Uuid, Integer> partitionsPerTopic = new HashMap<>();
        for (int t = 0; t < TOPICS; t++) {
            partitionsPerTopic.put(new Uuid(rnd.nextLong(), rnd.nextLong()), partitions / TOPICS);
        }
        Set<Uuid> topicIds = Collections.unmodifiableSet(partitionsPerTopic.keySet());
        List<String> ids = new ArrayList<>(members);
        Map<String, Integer> index = new HashMap<>();
        for (int m = 0; m < members; m++) {
            ids.add(memberId(m));
            index.put(memberId(m), m);
        }
        MemberSubscription subscription = new MemberSubscription() {
            @Override
            public Optional<String> rackId() {
                return Optional.empty();
            }

            @Override
            public Optional<String> instanceId() {
                return Optional.empty();
            }

            @Override
            public Set<Uuid> subscribedTopicIds() {
                return topicIds;
            }
        };
        MemberAssignment empty = Collections::emptyMap;
        /* A fresh group: every member subscribed to every topic, nothing assigned yet. */
        GroupSpec spec = new GroupSpec() {
            @Override
            public Collection<String> memberIds() {
                return ids;
            }

            @Override
            public SubscriptionType subscriptionType() {
                return SubscriptionType.HOMOGENEOUS;
            }

            @Override
            public boolean isPartitionAssigned(Uuid topicId, int partitionId) {
                return false;
            }

            @Override
            public boolean isPartitionAssignable(Uuid topicId, int partitionId) {
                return true;
            }

            @Override
            public MemberSubscription memberSubscription(String memberId) {
                return subscription;
            }

            @Override
            public MemberAssignment memberAssignment(String memberId) {
                return empty;
            }
        };
        SubscribedTopicDescriber describer = new SubscribedTopicDescriber() {
            @Override
            public int numPartitions(Uuid topicId) {
                Integer n = partitionsPerTopic.get(topicId);
                return n == null ? -1 : n;
            }

            @Override
            public Set<String> racksForPartition(Uuid topicId, int partition) {
                return Collections.emptySet();
            }
        };
        return () -> {
            GroupAssignment result = new UniformAssignor().assign(spec, describer);
            int[] counts = new int[members];
            for (Map.Entry<String, MemberAssignment> e : result.members().entrySet()) {
                int n = 0;
                for (Set<Integer> ps : e.getValue().partitions().values()) {
                    n += ps.size();
                }
                counts[index.get(e.getKey())] = n;
            }
            return counts;
        };
    }
}
