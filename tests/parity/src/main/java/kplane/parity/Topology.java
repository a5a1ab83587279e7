// One what-if input: topics with partition counts and a parallelism, plus its JSON line for kplane.
package kplane.parity;

import java.util.List;

final class Topology {
    /* One cluster name for every topic, so topic names alone are unique and the Kafka
     * assignors (which know no clusters) see the same sort order kplane does. */
    static final String CLUSTER = "c";

    final int index;
    final List<String> topics;
    final int[] partitions;
    final int parallelism;

    Topology(int index, List<String> topics, int[] partitions, int parallelism) {
        this.index = index;
        this.topics = topics;
        this.partitions = partitions;
        this.parallelism = parallelism;
    }

    int totalPartitions() {
        int n = 0;
        for (int p : partitions) {
            n += p;
        }
        return n;
    }

    String toJson(String strategy) {
        StringBuilder sb = new StringBuilder(64 + topics.size() * 48);
        sb.append("{\"topics\":[");
        for (int i = 0; i < topics.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append("{\"cluster\":");
            Json.quote(sb, CLUSTER);
            sb.append(",\"topic\":");
            Json.quote(sb, topics.get(i));
            sb.append(",\"partitions\":").append(partitions[i]).append('}');
        }
        sb.append("],\"parallelism\":").append(parallelism).append(",\"strategy\":");
        Json.quote(sb, strategy);
        sb.append('}');
        return sb.toString();
    }

    /* Short human form for mismatch reports. */
    String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append("#").append(index).append(" parallelism=").append(parallelism).append(" topics=[");
        for (int i = 0; i < topics.size(); i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(topics.get(i)).append(':').append(partitions[i]);
        }
        return sb.append(']').toString();
    }
}
