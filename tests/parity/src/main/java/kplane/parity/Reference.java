// The expected owners, computed by Flink's and Kafka's own code (never re-implemented here).
package kplane.parity;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.connector.kafka.source.enumerator.KafkaSourceEnumerator;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.internals.AbstractPartitionAssignor;
import org.apache.kafka.common.TopicPartition;

final class Reference {
    static final String[] STRATEGIES = {"flink", "range", "roundrobin"};

    private final MethodHandle flinkOwner;
    private final RangeAssignor range = new RangeAssignor();
    private final RoundRobinAssignor roundRobin = new RoundRobinAssignor();
    private final Map<Integer, String[]> memberIdCache = new HashMap<>();

    Reference() throws ReflectiveOperationException {
        /* Package-private static in the connector:
         * static int getSplitOwner(TopicPartition tp, int numReaders) */
        Method m = KafkaSourceEnumerator.class.getDeclaredMethod(
                "getSplitOwner", TopicPartition.class, int.class);
        m.setAccessible(true);
        flinkOwner = MethodHandles.lookup().unreflect(m);
    }

    int flinkOwner(String topic, int partition, int parallelism) {
        try {
            return (int) flinkOwner.invokeExact(new TopicPartition(topic, partition), parallelism);
        } catch (Throwable t) {
            throw new IllegalStateException("KafkaSourceEnumerator.getSplitOwner failed", t);
        }
    }

    /* owners[topic index][partition] for the given strategy. */
    int[][] owners(Topology t, String strategy) {
        switch (strategy) {
            case "flink":
                return flink(t);
            case "range":
                return kafka(t, range);
            case "roundrobin":
                return kafka(t, roundRobin);
            default:
                throw new IllegalArgumentException(strategy);
        }
    }

    private int[][] flink(Topology t) {
        int[][] owners = new int[t.topics.size()][];
        for (int i = 0; i < owners.length; i++) {
            owners[i] = new int[t.partitions[i]];
            for (int p = 0; p < owners[i].length; p++) {
                owners[i][p] = flinkOwner(t.topics.get(i), p, t.parallelism);
            }
        }
        return owners;
    }

    /* Member ids zero-padded so Kafka's sort by member id is task order. */
    private String[] memberIds(int parallelism) {
        return memberIdCache.computeIfAbsent(parallelism, n -> {
            String[] ids = new String[n];
            for (int i = 0; i < n; i++) {
                ids[i] = String.format("task-%06d", i);
            }
            return ids;
        });
    }

    private int[][] kafka(Topology t, AbstractPartitionAssignor assignor) {
        Map<String, Integer> partitionsPerTopic = new LinkedHashMap<>();
        Map<String, Integer> topicIndex = new HashMap<>();
        for (int i = 0; i < t.topics.size(); i++) {
            partitionsPerTopic.put(t.topics.get(i), t.partitions[i]);
            topicIndex.put(t.topics.get(i), i);
        }
        List<String> subscribed = new ArrayList<>(t.topics);
        String[] ids = memberIds(t.parallelism);
        Map<String, Subscription> subscriptions = new HashMap<>();
        Map<String, Integer> taskOf = new HashMap<>();
        for (int task = 0; task < ids.length; task++) {
            subscriptions.put(ids[task], new Subscription(subscribed));
            taskOf.put(ids[task], task);
        }
        Map<String, List<TopicPartition>> assignment =
                assignor.assign(partitionsPerTopic, subscriptions);

        int[][] owners = new int[t.topics.size()][];
        for (int i = 0; i < owners.length; i++) {
            owners[i] = new int[t.partitions[i]];
            Arrays.fill(owners[i], -1);
        }
        for (Map.Entry<String, List<TopicPartition>> e : assignment.entrySet()) {
            int task = taskOf.get(e.getKey());
            for (TopicPartition tp : e.getValue()) {
                int[] row = owners[topicIndex.get(tp.topic())];
                if (row[tp.partition()] != -1) {
                    throw new IllegalStateException(assignor.name() + " assigned " + tp + " twice");
                }
                row[tp.partition()] = task;
            }
        }
        for (int i = 0; i < owners.length; i++) {
            for (int p = 0; p < owners[i].length; p++) {
                if (owners[i][p] == -1) {
                    throw new IllegalStateException(assignor.name() + " left "
                            + t.topics.get(i) + "-" + p + " unassigned");
                }
            }
        }
        return owners;
    }
}
